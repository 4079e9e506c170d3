"""Dated exchange rates loaded by the administration."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from avance.store.types import ExactDecimal, UTCDateTime
from avance.store.metadata import metadata

exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("rate", ExactDecimal, nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
    UniqueConstraint("currency", "valid_from", name="uq_exchange_rates_currency_valid_from"),
)
