"""Node settings: one key-value table shared by the node's set-up (its country), the rule set and
the exchange identity, with the few functions that read and write it."""

from __future__ import annotations

from sqlalchemy import Column, Connection, String, Table, Text, delete, insert, select

from avance.store.metadata import metadata

node_settings = Table(
    "node_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

COUNTRY = "country"
"""Key of the ISO 3166 alpha-2 code of the administration this node serves."""


def get(conn: Connection, key: str, *, for_update: bool = False) -> str | None:
    """The value stored under ``key``, or None."""
    query = select(node_settings.c.value).where(node_settings.c.key == key)
    if for_update:
        query = query.with_for_update()
    return conn.execute(query).scalar()


def put(conn: Connection, key: str, value: str) -> None:
    """Store ``value`` under ``key``, replacing what was there."""
    conn.execute(delete(node_settings).where(node_settings.c.key == key))
    conn.execute(insert(node_settings).values(key=key, value=value))


def read_country(conn: Connection) -> str | None:
    """The administration this node serves, or None before ``avance init``."""
    return get(conn, COUNTRY)
