"""Node settings: one key-value table shared by the node's set-up (country), the rule set and the exchange identity."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    String,
    Table,
    Text,
)

from avance.store.metadata import metadata

node_settings = Table(
    "node_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
