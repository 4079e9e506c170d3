"""The valuation references in the node's store: the history they are built from, the snapshot,
and the analysts' value-control file.

The references are built from the declarations lodged on this node, not typed in by hand as in
ASYCUDA: declarations found fraudulent on inspection and rejected declarations are left out (their
values say nothing of honest prices). A build replaces the whole snapshot in one transaction, so
that a lodging reads the old snapshot or the new one, never a mix; the node loads it with the
value-control file into a ``ValuationIndex`` (``load_index``) and keeps it in memory. The
statistics themselves are pure (``model``); every function here works in the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from avance.declarations.tables import declaration_events, declarations, goods_items
from avance.kit.errors import Issue, NotFound, ValidationFailed
from avance.revenue.profiles import load_profile
from avance.risk.valuation.model import (
    DEFAULT_FLOOR_Q10,
    DEFAULT_K,
    DEFAULT_MIN_COUNT,
    LEVELS,
    BuildInfo,
    Override,
    Stats,
    ValuationIndex,
    ValueRow,
    check_settings,
    measure,
    unit_value_statistics,
)
from avance.risk.valuation.tables import valuation_overrides, valuation_references
from avance.store import audit
from avance.store.node_settings import read_country

# --- the history ------------------------------------------------------------------------------


def excluded_declarations(conn: Connection) -> set[int]:
    """Declarations whose inspection found fraud: their values say nothing of honest prices."""
    rows = conn.execute(
        select(declaration_events.c.declaration_id, declaration_events.c.data).where(declaration_events.c.kind == "inspected")
    )
    return {int(r.declaration_id) for r in rows if isinstance(r.data, dict) and r.data.get("fraud_found") is True}


def history_rows(conn: Connection, *, since: date | None = None, until: date | None = None) -> tuple[list[ValueRow], int, int]:
    """Unit-value rows of the lodged goods items (fraud found and rejected declarations left out);
    also how many items had no usable quantity and how many declarations were left out."""
    conditions = [declarations.c.status != "rejected"]
    if since is not None:
        conditions.append(declarations.c.registration_date >= since)
    if until is not None:
        conditions.append(declarations.c.registration_date <= until)
    excluded = excluded_declarations(conn)
    # The supplementary unit is only in the lodged document: read it for the items that need it.
    with_units = select(goods_items.c.declaration_id).where(goods_items.c.supplementary_quantity.is_not(None))
    units: dict[tuple[int, int], str] = {}
    documents = conn.execute(select(declarations.c.id, declarations.c.document).where(declarations.c.id.in_(with_units), *conditions))
    for declaration_id, document in documents:
        for item in (document or {}).get("goods_items", ()):
            unit = item.get("supplementary_unit")
            if unit:
                units[(int(declaration_id), int(item.get("sequence", 0)))] = str(unit)
    window = conditions[1:]
    rejected = conn.execute(select(func.count()).select_from(declarations).where(declarations.c.status == "rejected", *window)).scalar_one()
    query = (
        select(
            goods_items.c.declaration_id,
            goods_items.c.sequence,
            goods_items.c.hs_code,
            goods_items.c.origin_country,
            goods_items.c.net_mass,
            goods_items.c.supplementary_quantity,
            goods_items.c.customs_value,
            declarations.c.registration_date,
        )
        .select_from(goods_items.join(declarations, goods_items.c.declaration_id == declarations.c.id))
        .where(*conditions)
    )
    rows: list[ValueRow] = []
    skipped = 0
    left_out: set[int] = set()
    for r in conn.execute(query):
        if r.declaration_id in excluded:
            left_out.add(r.declaration_id)
            continue
        found = measure(r.net_mass, r.supplementary_quantity, units.get((r.declaration_id, r.sequence)))
        if found is None:
            skipped += 1
            continue
        quantity, unit = found
        rows.append(ValueRow(r.hs_code, r.origin_country, unit, quantity, r.customs_value, r.registration_date))
    return rows, skipped, len(left_out) + int(rejected)


def _node_currency(conn: Connection) -> str | None:
    country = read_country(conn)
    return load_profile(country).currency if country else None


# --- the snapshot -----------------------------------------------------------------------------


def build_from_store(
    conn: Connection,
    *,
    since: date | None = None,
    until: date | None = None,
    min_count: int = DEFAULT_MIN_COUNT,
    k: float = DEFAULT_K,
    floor_q10: bool = DEFAULT_FLOOR_Q10,
) -> ValuationIndex:
    """References from the declarations lodged on this node (registration dates in the window).
    The overrides are not included: ``load_index`` reads snapshot and overrides."""
    check_settings(min_count, k)
    if since is not None and until is not None and since > until:
        raise ValidationFailed([Issue("/since", "valuation.window", {"since": since, "until": until})])
    rows, no_quantity, excluded = history_rows(conn, since=since, until=until)
    stats, used, skipped = unit_value_statistics(rows, None, None)
    info = BuildInfo(datetime.now(timezone.utc), since, until, used, skipped + no_quantity, excluded)
    return ValuationIndex(stats, (), min_count=min_count, k=k, floor_q10=floor_q10, currency=_node_currency(conn), info=info)


def save_snapshot(conn: Connection, index: ValuationIndex) -> dict[str, int]:
    """Replace the stored snapshot with ``index``'s statistics (call inside one write
    transaction: readers see the old snapshot or the new one, never a mix). Returns the number
    of references per level."""
    info = index.info or BuildInfo(datetime.now(timezone.utc), None, None)
    currency = index.currency or _node_currency(conn) or ""
    conn.execute(delete(valuation_references))
    rows = [
        {
            "level": s.level,
            "hs": s.hs,
            "origin": s.origin,
            "unit": s.unit,
            "n": s.n,
            "median": s.median,
            "q10": s.q10,
            "q25": s.q25,
            "q75": s.q75,
            "q90": s.q90,
            "mad_log": s.mad_log,
            "currency": currency,
            "min_count": index.min_count,
            "k": index.k,
            "floor_q10": index.floor_q10,
            "built_at": info.built_at,
            "window_from": info.since,
            "window_to": info.until,
        }
        for s in index.statistics()
    ]
    for start in range(0, len(rows), 5000):
        conn.execute(insert(valuation_references), rows[start : start + 5000])
    return index.counts()


def rebuild(conn: Connection, **settings: Any) -> ValuationIndex:
    """``build_from_store(conn, **settings)`` and save it as the snapshot, in ``conn``'s (write)
    transaction."""
    index = build_from_store(conn, **settings)
    save_snapshot(conn, index)
    return index


def load_index(conn: Connection, *, hs: str | None = None, k: float | None = None, min_count: int | None = None) -> ValuationIndex:
    """The stored snapshot and the value-control file (all its lines: ``reference`` picks those
    in force on the day asked). With ``hs``, only what concerns that code; ``k`` and
    ``min_count`` replace the build settings."""
    query = select(valuation_references)
    if hs is not None:
        query = query.where(valuation_references.c.hs.in_(sorted({hs[:6], hs[:4]})))
    stats = []
    settings: dict[str, Any] = {}
    for r in conn.execute(query):
        if not settings:
            settings = {"min_count": r.min_count, "k": r.k, "floor_q10": r.floor_q10, "currency": r.currency or None}
            settings["info"] = BuildInfo(r.built_at, r.window_from, r.window_to)
        stats.append(Stats(r.level, r.hs, r.origin, r.unit, r.n, r.median, r.q10, r.q25, r.q75, r.q90, float(r.mad_log)))
    if not settings:
        settings = _snapshot_settings(conn)
    if k is not None:
        settings["k"] = k
    if min_count is not None:
        settings["min_count"] = min_count
    if hs is not None:
        prefixes = {hs[:n] for n in range(4, min(len(hs), 10) + 1)}
        rows = conn.execute(select(valuation_overrides).where(valuation_overrides.c.hs_prefix.in_(sorted(prefixes))))
    else:
        rows = conn.execute(select(valuation_overrides))
    overrides = [_override_from_row(r) for r in rows]
    if settings.get("currency") is None:
        settings["currency"] = _node_currency(conn)
    return ValuationIndex(stats, overrides, **settings)


def _snapshot_settings(conn: Connection) -> dict[str, Any]:
    row = conn.execute(select(valuation_references).limit(1)).first()
    if row is None:
        return {}
    return {"min_count": row.min_count, "k": row.k, "floor_q10": row.floor_q10, "currency": row.currency or None, "info": BuildInfo(row.built_at, row.window_from, row.window_to)}


def snapshot_info(conn: Connection) -> dict[str, Any] | None:
    """When and how the stored snapshot was built, and its references per level; None if none."""
    settings = _snapshot_settings(conn)
    if not settings:
        return None
    counts = dict.fromkeys(LEVELS, 0)
    usable = dict.fromkeys(LEVELS, 0)
    for level, n in conn.execute(select(valuation_references.c.level, valuation_references.c.n)):
        counts[level] = counts.get(level, 0) + 1
        if n >= settings["min_count"]:
            usable[level] = usable.get(level, 0) + 1
    info: BuildInfo = settings["info"]
    return {
        "built_at": info.built_at.isoformat(),
        "window_from": info.since.isoformat() if info.since else None,
        "window_to": info.until.isoformat() if info.until else None,
        "min_count": settings["min_count"],
        "k": settings["k"],
        "floor_q10": settings["floor_q10"],
        "currency": settings["currency"],
        "references": counts,
        "usable": usable,
    }


# --- the value-control file -------------------------------------------------------------------


def _override_from_row(r: Any) -> Override:
    return Override(
        hs_prefix=r.hs_prefix,
        origin=r.origin,
        unit=r.unit,
        minimum=r.minimum,
        maximum=r.maximum,
        valid_from=r.valid_from,
        valid_to=r.valid_to,
        note=r.note,
        author=r.author,
        id=r.id,
        updated_at=r.updated_at,
    )


def list_overrides(conn: Connection, *, hs: str | None = None, on: date | None = None) -> list[Override]:
    """The value-control file, by HS prefix; with ``hs``, the lines that cover it or lie beneath
    it; with ``on``, those in force that day."""
    rows = conn.execute(select(valuation_overrides).order_by(valuation_overrides.c.hs_prefix, valuation_overrides.c.id))
    found = [_override_from_row(r) for r in rows]
    if hs is not None:
        found = [o for o in found if hs.startswith(o.hs_prefix) or o.hs_prefix.startswith(hs)]
    if on is not None:
        found = [o for o in found if o.in_force(on)]
    return found


def _values(o: Override, now: datetime) -> dict[str, Any]:
    return {
        "hs_prefix": o.hs_prefix,
        "origin": o.origin,
        "unit": o.unit,
        "minimum": o.minimum,
        "maximum": o.maximum,
        "valid_from": o.valid_from,
        "valid_to": o.valid_to,
        "note": o.note,
        "author": o.author[:70],
        "updated_at": now,
    }


def _same_key(o: Override) -> Any:
    c = valuation_overrides.c
    conditions = [c.hs_prefix == o.hs_prefix]
    for column, value in ((c.origin, o.origin), (c.unit, o.unit), (c.valid_from, o.valid_from)):
        conditions.append(column.is_(None) if value is None else column == value)
    return conditions


def set_override(conn: Connection, override: Override, *, now: datetime | None = None, actor: Any = None) -> tuple[Override, bool]:
    """Store an override; one with the same HS prefix, origin, unit and start date is replaced.
    Returns it as stored, and whether it is new. Recorded in the audit trail as ``actor``'s
    (default: the override's author), the replaced bounds in full."""
    now = now or datetime.now(timezone.utc)
    existing = conn.execute(select(valuation_overrides.c.id).where(*_same_key(override))).scalar()
    if existing is None:
        new_id = conn.execute(insert(valuation_overrides).values(**_values(override, now)).returning(valuation_overrides.c.id)).scalar_one()
        audit.record(conn, actor or override.author, "valuation_bound.set", "valuation_override", new_id, after=_values(override, now))
        return replace(override, id=int(new_id), updated_at=now), True
    before = _values(get_override(conn, int(existing)), now)
    conn.execute(update(valuation_overrides).where(valuation_overrides.c.id == existing).values(**_values(override, now)))
    audit.record(conn, actor or override.author, "valuation_bound.replaced", "valuation_override", existing, before=before, after=_values(override, now))
    return replace(override, id=int(existing), updated_at=now), False


def get_override(conn: Connection, override_id: int) -> Override:
    row = conn.execute(select(valuation_overrides).where(valuation_overrides.c.id == override_id)).first()
    if row is None:
        raise NotFound("valuation.override_not_found", id=override_id)
    return _override_from_row(row)


def remove_override(conn: Connection, override_id: int, *, actor: Any = None) -> Override:
    """Delete an override; raises NotFound. The audit trail keeps it in full (as ``actor``'s removal)."""
    found = get_override(conn, override_id)
    conn.execute(delete(valuation_overrides).where(valuation_overrides.c.id == override_id))
    audit.record(conn, actor or "unknown", "valuation_bound.removed", "valuation_override", override_id, before={**_values(found, found.updated_at or datetime.now(timezone.utc)), "author": found.author})
    return found


@dataclass(frozen=True)
class ImportResult:
    created: int
    replaced: int
    removed: int


def import_overrides(conn: Connection, overrides: Sequence[Override], *, replace_all: bool = False, now: datetime | None = None, actor: Any = None) -> ImportResult:
    """Store checked overrides in ``conn``'s transaction (all or nothing). Lines with the key of
    a stored override replace it; with ``replace_all`` the file replaces the whole value-control
    file."""
    removed = 0
    if replace_all:
        for found in list_overrides(conn):  # the audit trail keeps each in full
            remove_override(conn, int(found.id or 0), actor=actor or (overrides[0].author if overrides else None))
            removed += 1
    created = replaced = 0
    for o in overrides:
        _, new = set_override(conn, o, now=now, actor=actor)
        created += new
        replaced += not new
    return ImportResult(created, replaced, removed)
