"""An office's work queue: the declarations expected or arrived at its offices, the riskiest first.

Sorted by lane (red, yellow, blue, green), then risk score (highest first), then expected arrival
(soonest first). Without a status filter the queue holds what still waits for release (neither
released nor rejected). Customs staff only: the order itself tells the risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Sequence

from sqlalchemy import Connection, Float, case, cast, exists, func, or_, select

from avance.auth.access import Action, require
from avance.auth.model import Principal
from avance.declarations.lifecycle import EventKind
from avance.declarations.tables import declarations, goods_items

CLOSED = (EventKind.RELEASED.value, EventKind.REJECTED.value)
"""Statuses that leave the queue (unless asked for by the status filter)."""

LANE_ORDER = case(
    (declarations.c.lane == "red", 3),
    (declarations.c.lane == "yellow", 2),
    (declarations.c.lane == "blue", 1),
    else_=0,
)


@dataclass(frozen=True)
class QueueFilters:
    lane: str | None = None
    status: str | None = None
    importer: str | None = None  # an importer's id, or a part of its name
    hs_code: str | None = None  # the start of an item's HS code (chapter, heading, ...)
    origin: str | None = None  # an item's country of origin (ISO 3166 alpha-2)
    arrival_from: date | None = None  # expected arrival, first day
    arrival_to: date | None = None  # expected arrival, last day


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def queue(
    conn: Connection,
    principal: Principal,
    offices: Sequence[str] | None,
    filters: QueueFilters,
    *,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[Any], int]:
    """One page of the queue of ``offices`` (None: every office), and how many it holds in all.

    Each row has the declaration's id, LRN, importer, office, expected arrival, status, lane,
    score, currency, customs value and duties and taxes (the amount at stake)."""
    require(principal, Action.READ_RISK)
    conditions: list[Any] = []
    if offices is not None:
        conditions.append(declarations.c.office_code.in_(list(offices)))
    if filters.status is not None:
        conditions.append(declarations.c.status == filters.status)
    else:
        conditions.append(declarations.c.status.not_in(CLOSED))
    if filters.lane is not None:
        conditions.append(declarations.c.lane == filters.lane)
    if filters.importer:
        pattern = "%" + filters.importer.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").lower() + "%"
        conditions.append(or_(declarations.c.importer_id == filters.importer, func.lower(declarations.c.importer_name).like(pattern, escape="\\")))
    item_conditions = []
    if filters.hs_code:
        item_conditions.append(goods_items.c.hs_code.startswith(filters.hs_code, autoescape=True))
    if filters.origin:
        item_conditions.append(goods_items.c.origin_country == filters.origin.upper())
    if item_conditions:
        conditions.append(exists().where(goods_items.c.declaration_id == declarations.c.id, *item_conditions))
    if filters.arrival_from is not None:
        conditions.append(declarations.c.estimated_arrival >= _day_start(filters.arrival_from))
    if filters.arrival_to is not None:
        conditions.append(declarations.c.estimated_arrival < _day_start(filters.arrival_to + timedelta(days=1)))
    total = conn.execute(select(func.count()).select_from(declarations).where(*conditions)).scalar_one()
    rows = conn.execute(
        select(
            declarations.c.id,
            declarations.c.lrn,
            declarations.c.importer_id,
            declarations.c.importer_name,
            declarations.c.office_code,
            declarations.c.estimated_arrival,
            declarations.c.status,
            declarations.c.lane,
            declarations.c.score,
            declarations.c.currency,
            declarations.c.customs_value,
            declarations.c.duty_total,
        )
        .where(*conditions)
        .order_by(LANE_ORDER.desc(), cast(declarations.c.score, Float).desc(),  # a number on SQLite too, where scores are text
                   declarations.c.estimated_arrival, declarations.c.id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).mappings().all()
    return list(rows), int(total)
