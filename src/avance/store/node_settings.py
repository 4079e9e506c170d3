"""Node settings: one key-value table shared by the node's set-up (its country), the rule set and
the exchange identity, with the few functions that read and write it.

Beside it, ``node_generations``: one change counter per kind of state every process of a node
holds in memory (profiles, valuation references, the learned model, the selection policy, the
exchange rates). A change bumps its kind's counter in the transaction that makes it (database
triggers for what lives in tables, ``bump`` for what lives in files), and every process compares
the counters with those it loaded, at most once a second, to reload what another process changed
(``avance.bootstrap.Node``; docs/operations.md, "Several processes and machines").
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, String, Table, Text, delete, insert, select, update

from avance.store import audit
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


def put(conn: Connection, key: str, value: str, *, actor: audit.Actor | str = audit.SYSTEM) -> None:
    """Store ``value`` under ``key``, replacing what was there (recorded in the audit trail, as
    ``actor``; a secret's values by their digests only)."""
    before = get(conn, key)
    conn.execute(delete(node_settings).where(node_settings.c.key == key))
    conn.execute(insert(node_settings).values(key=key, value=value))
    if before != value:
        was = {} if before is None else {"before": {"key": key, "value": before}}
        audit.record(conn, actor, "settings.changed", "setting", key, after={"key": key, "value": value}, secret="secret" in key, **was)


def read_country(conn: Connection) -> str | None:
    """The administration this node serves, or None before ``avance init``."""
    return get(conn, COUNTRY)


node_generations = Table(
    "node_generations",
    metadata,
    Column("kind", String(16), primary_key=True, comment="profiles, valuation, model, policy or rates"),
    Column("generation", BigInteger, nullable=False, comment="Bumped in the transaction of every change of that kind"),
    comment="Change counters of the state each process of a node holds in memory",
)

PROFILES, VALUATION, MODEL, POLICY, RATES = "profiles", "valuation", "model", "policy", "rates"
GENERATION_KINDS = (PROFILES, VALUATION, MODEL, POLICY, RATES)
"""What a process of a node loads into memory and must reload when another process changes it."""


def generations(conn: Connection) -> dict[str, int]:
    """Every kind's change counter (a kind without its row counts as 0)."""
    found = {kind: int(generation) for kind, generation in conn.execute(select(node_generations.c.kind, node_generations.c.generation))}
    return {kind: found.get(kind, 0) for kind in GENERATION_KINDS}


def bump(conn: Connection, *kinds: str) -> None:
    """Tell every process of the node that ``kinds`` changed (in the caller's transaction)."""
    for kind in kinds:
        if kind not in GENERATION_KINDS:
            raise ValueError(f"unknown kind of node state: {kind!r}")
        if conn.execute(update(node_generations).where(node_generations.c.kind == kind).values(generation=node_generations.c.generation + 1)).rowcount == 0:
            conn.execute(insert(node_generations).values(kind=kind, generation=1))
