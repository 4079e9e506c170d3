"""Tables of users and their tokens (stored hashed)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    String,
    Table,
)

from avance.store.types import UTCDateTime
from avance.store.metadata import metadata

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(70), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("party_id", String(35), nullable=True, comment="TIN of the declarant or carrier a declarant user acts for"),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
)
