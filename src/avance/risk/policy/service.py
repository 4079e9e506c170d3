"""The node's selection secrets (kept in ``node_settings``) and the auditor's check of the recorded draws.

The secrets are one JSON value under ``SECRETS_KEY``::

    {"current": "2", "secrets": [{"id": "1", "key": "<base64 of 32 bytes>", "created_at": "..."}, ...]}

``current`` draws; the older ones are kept, with their ids, so that every recorded draw stays
checkable. Every process of a node reads the same row, so they all draw alike, and a backup of the
database keeps the secrets. Migration 0008 writes the first secret of nodes initialised before it
(with this very layout); ``avance init`` makes sure there is one.

Nothing here prints, logs or returns a secret: callers get ``Draw`` objects (whose ``repr`` leaves
the key out), ids and findings.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, select

from avance.declarations.assessment import Lane
from avance.declarations.tables import declaration_events, declarations
from avance.kit.errors import ConfigurationError
from avance.risk.policy.draw import SEPARATOR, Draw
from avance.store import node_settings

SECRETS_KEY = "selection.draw_secrets"
"""``node_settings`` key of the selection secrets (JSON, layout above)."""

SECRET_BYTES = 32
LANE_EVENT = "lane_assigned"


@dataclass(frozen=True)
class Keyring:
    """The node's selection secrets: the current one draws, every one checks."""

    current: str
    keys: dict[str, bytes] = field(repr=False)

    def draw(self, secret_id: str | None = None) -> Draw:
        """The draw with secret ``secret_id`` (default: the current one); KeyError when unknown."""
        name = self.current if secret_id is None else secret_id
        return Draw(name, self.keys[name])


def _read(conn: Connection, *, for_update: bool = False) -> dict[str, Any] | None:
    value = node_settings.get(conn, SECRETS_KEY, for_update=for_update)
    return None if value is None else json.loads(value)


def _new_entry(secret_id: str, now: datetime) -> dict[str, str]:
    return {"id": secret_id, "key": base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii"), "created_at": now.isoformat()}


def ensure_secret(conn: Connection, *, now: datetime | None = None) -> bool:
    """Create the node's first secret when it has none (``avance init``); True when one was created."""
    if _read(conn, for_update=True) is not None:
        return False
    entry = _new_entry("1", now or datetime.now(timezone.utc))
    node_settings.put(conn, SECRETS_KEY, json.dumps({"current": "1", "secrets": [entry]}))
    return True


def rotate_secret(conn: Connection, *, now: datetime | None = None) -> str:
    """Draw with a fresh secret from now on (the old ones stay, for checking); its id."""
    stored = _read(conn, for_update=True)
    if stored is None:
        ensure_secret(conn, now=now)
        return "1"
    secret_id = str(max(int(entry["id"]) for entry in stored["secrets"]) + 1)
    stored["secrets"].append(_new_entry(secret_id, now or datetime.now(timezone.utc)))
    stored["current"] = secret_id
    node_settings.put(conn, SECRETS_KEY, json.dumps(stored))
    return secret_id


def keyring(conn: Connection) -> Keyring:
    """The node's secrets; ConfigurationError when it has none (a database not set up by ``avance init``)."""
    stored = _read(conn)
    if stored is None:
        raise ConfigurationError("selection.no_secret")
    keys = {entry["id"]: base64.b64decode(entry["key"]) for entry in stored["secrets"]}
    return Keyring(stored["current"], keys)


def current_draw(conn: Connection) -> Draw:
    """The draw the node's assessors use now."""
    return keyring(conn).draw()


# --------------------------------------------------------------------------- the auditor's check


@dataclass(frozen=True, slots=True)
class Problem:
    """A lodging whose recorded draw does not hold: ``code`` is a catalog key, ``params`` its values."""

    declaration_id: int
    declarant: str
    lrn: str
    code: str
    params: dict[str, str]


@dataclass(frozen=True)
class DrawAudit:
    checked: int  # lodgings whose draw was recorded and checked
    unrecorded: int  # lodgings without a recorded draw (lodged before the draw was recorded, or by an assessor that draws nothing)
    problems: list[Problem]


def check_draws(conn: Connection, *, start: date | None = None, end: date | None = None) -> DrawAudit:
    """Recompute the draw of every lodging from ``start`` to ``end`` (days of lodging, UTC, both
    included) with the secret it names, and check the lane at lodging against it.

    Reported: a recorded draw that differs from the recomputed one (``selection.check.mismatch``),
    a secret the node does not hold (``selection.check.unknown_secret``), and a lane that a draw
    below the recorded random bands contradicts (``selection.check.lane``: below ``red_below`` the
    lane must be red, below ``yellow_below`` at least yellow). Bands are recorded only where the
    draw alone decides the random pick (the rule assessor; the streaming policy unless the lane's
    ceiling was reached); a batch's random picks depend on the whole batch and are not judged.
    """
    ring = keyring(conn)
    query = (
        select(declarations.c.id, declarations.c.declarant_id, declarations.c.lrn, declaration_events.c.data)
        .join(declaration_events, declaration_events.c.declaration_id == declarations.c.id)
        .where(declaration_events.c.kind == LANE_EVENT)
        .order_by(declarations.c.id, declaration_events.c.id)
    )
    if start is not None:
        query = query.where(declarations.c.lodged_at >= datetime.combine(start, time(), timezone.utc))
    if end is not None:
        query = query.where(declarations.c.lodged_at < datetime.combine(end + timedelta(days=1), time(), timezone.utc))
    checked = unrecorded = 0
    problems: list[Problem] = []
    for row in _first_per_declaration(conn.execute(query.execution_options(yield_per=5000))):  # streamed: years of lodgings
        recorded = row.data.get("draw") if isinstance(row.data, dict) else None
        if not recorded:
            unrecorded += 1
            continue
        checked += 1
        problem = _check(ring, row.declarant_id, row.lrn, row.data.get("lane"), recorded)
        if problem is not None:
            code, params = problem
            problems.append(Problem(row.id, row.declarant_id, row.lrn, code, params))
    return DrawAudit(checked, unrecorded, problems)


def _first_per_declaration(rows: Any) -> Iterator[Any]:
    """The lane event written at lodging: each declaration's first (mirror control adds later ones)."""
    last = None
    for row in rows:
        if row.id != last:
            last = row.id
            yield row


def _check(ring: Keyring, declarant: str, lrn: str, lane: Any, recorded: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    secret_id, value = str(recorded.get("secret", "")), str(recorded.get("value", ""))
    if secret_id not in ring.keys:
        return "selection.check.unknown_secret", {"secret": secret_id}
    expected = repr(ring.draw(secret_id).uniform(SEPARATOR.join((declarant, lrn))))
    if value != expected:
        return "selection.check.mismatch", {"recorded": value, "secret": secret_id}
    u = float(value)
    try:
        at_lodging = Lane(lane)
    except ValueError:
        return "selection.check.lane", {"draw": value, "lane": str(lane), "band": "-", "expected": "-"}
    for band, least in (("red_below", Lane.RED), ("yellow_below", Lane.YELLOW)):
        limit = _band(recorded.get(band))
        if limit is not None and u < limit and at_lodging.severity < least.severity:
            return "selection.check.lane", {"draw": value, "lane": at_lodging.value, "band": recorded[band], "expected": least.value}
    return None


def _band(text: Any) -> float | None:
    try:
        limit = float(text)
    except (TypeError, ValueError):
        return None
    return limit if math.isfinite(limit) else None
