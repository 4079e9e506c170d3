"""Mirror control over the store: receiving and sending export notices, matching, the daily sweep.

The importing node stores each ``export-declaration-notice`` and matches it with its own import
declaration, whichever comes first: the notice (``on_export_notice``) or the declaration
(``match_declaration``, run after each lodging by ``MirrorControlAtLodging``). Each outcome is
stored on the notice, may raise the declaration's lane (through ``declarations.service.raise_lane``,
never by writing its tables), and is sent back to the exporting node as a ``match-result``, all in
the caller's transaction. Notices still unmatched after the deadline become *non retrouvée*
(``sweep``). The exporting node sends its notices (``send_notice``) and records the results
(``on_match_result``).

The rules themselves are in ``avance.movements.matching.model``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from avance.declarations import service as declarations_service
from avance.declarations.extensions import Lodged
from avance.declarations.lifecycle import EventKind
from avance.declarations.tables import declarations, goods_items
from avance.kit.errors import Conflict, Forbidden, Issue, NotFound, ValidationFailed
from avance.kit.validation import parse
from avance.movements.context import partner_for_country, send, utcnow
from avance.movements.matching.model import (
    RECEIVED,
    SENT,
    ImportFacts,
    ImportItem,
    MatchingPolicy,
    MatchOutcome,
    MirrorSignal,
    compare,
    export_movement,
    import_reference,
    mirror_reasons,
    not_found_outcome,
    outcome_from_row,
    policy_from,
    result_payload,
    suggested_lane,
)
from avance.movements.matching.views import declaration_view
from avance.movements.payloads import ExportDeclarationNotice, MatchResult
from avance.movements.tables import export_notices
from avance.revenue.context import ReferenceContext

MIRROR_ACTOR = "mirror-control"
"""Who raises a declaration's lane after a non-conforming match (its events' actor)."""


# --- the importing side ----------------------------------------------------------------------


def mirror_signal(conn: Connection, declaration_id: int) -> MirrorSignal | None:
    """The latest mirror-control outcome of import declaration ``declaration_id``, if it was matched."""
    row = conn.execute(
        select(export_notices)
        .where(export_notices.c.direction == RECEIVED, export_notices.c.declaration_id == declaration_id)
        .order_by(export_notices.c.decided_at.desc(), export_notices.c.id.desc())
    ).mappings().first()
    if row is None or row["result"] is None:
        return None
    outcome = outcome_from_row(row)
    return MirrorSignal(
        notice_id=row["id"],
        outcome=outcome.outcome,
        value_gap_percent=outcome.value_gap_percent,
        revenue_gap=outcome.revenue_gap,
        currency=outcome.currency,
        gap_kinds=outcome.gap_kinds,
        lane=suggested_lane(outcome),
        reasons=tuple(mirror_reasons(outcome)),
    )


def import_facts(conn: Connection, declaration_id: int) -> ImportFacts | None:
    """Import declaration ``declaration_id`` as matching sees it, with the values the node computed; None when there is none."""
    row = conn.execute(select(declarations).where(declarations.c.id == declaration_id)).mappings().first()
    if row is None:
        return None
    units = {item.get("sequence"): item.get("supplementary_unit") for item in (row["document"] or {}).get("goods_items", [])}
    items = tuple(
        ImportItem(
            sequence=r["sequence"],
            hs_code=r["hs_code"],
            origin_country=r["origin_country"],
            net_mass=r["net_mass"],
            supplementary_quantity=r["supplementary_quantity"],
            supplementary_unit=units.get(r["sequence"]),
            fob_value=r["fob_value"],
            customs_value=r["customs_value"],
            duty_total=r["duty_total"],
            duties_due=bool((r["duties"] or {}).get("due", True)),
            preference_claimed=r["duty_regime"] == "community",
        )
        for r in conn.execute(select(goods_items).where(goods_items.c.declaration_id == declaration_id).order_by(goods_items.c.sequence)).mappings()
    )
    return ImportFacts(declaration_id, import_reference(row), row["importer_id"], row["registration_date"], row["currency"], items)


def _decide(conn: Connection, ctx: ReferenceContext, notice_row: Any, facts: ImportFacts | None, policy: MatchingPolicy, now: datetime) -> MatchOutcome:
    """Store the outcome for a received notice, raise the lane when needed, tell the exporter."""
    notice = ExportDeclarationNotice.model_validate(notice_row["document"])
    outcome = compare(notice, facts, ctx, policy) if facts is not None else not_found_outcome(notice, ctx.currency)
    result = result_payload(outcome, ctx.country, now, policy)
    conn.execute(
        update(export_notices)
        .where(export_notices.c.id == notice_row["id"])
        .values(
            outcome=outcome.outcome,
            declaration_id=outcome.declaration_id,
            import_reference=outcome.import_reference,
            currency=outcome.currency,
            value_gap_percent=outcome.value_gap_percent,
            revenue_gap=outcome.revenue_gap,
            result=result.to_payload(),
            decided_at=now,
        )
    )
    lane = suggested_lane(outcome, policy)
    if lane is not None and outcome.declaration_id is not None:
        declarations_service.raise_lane(conn, outcome.declaration_id, lane, mirror_reasons(outcome), actor=MIRROR_ACTOR, source="mirror_control", now=now)
    send(
        conn,
        to=notice_row["partner"],
        type="match-result",
        payload=result.to_payload(),
        movement=export_movement(notice.exporting_country, notice.export_declaration_reference),
        correlation=notice_row["message_id"],
    )
    return outcome


def _candidates(conn: Connection, notice: ExportDeclarationNotice, notice_id: int) -> list[Any]:
    """Import declarations carrying the notice's transport document or UCR, not rejected, not matched to another notice."""
    keys = []
    if notice.transport_document_reference:
        keys.append(declarations.c.transport_document_reference == notice.transport_document_reference)
    if notice.ucr:
        keys.append(declarations.c.document["ucr"].as_string() == notice.ucr)
    taken = select(export_notices.c.declaration_id).where(
        export_notices.c.direction == RECEIVED, export_notices.c.declaration_id.is_not(None), export_notices.c.id != notice_id
    )
    rows = conn.execute(
        select(declarations.c.id, declarations.c.importer_id)
        .where(or_(*keys), declarations.c.status != EventKind.REJECTED.value, declarations.c.id.not_in(taken))
        .order_by(declarations.c.id)
    ).all()
    consignee = notice.consignee.id
    return sorted(rows, key=lambda r: (r.importer_id != consignee, r.id))


def on_export_notice(conn: Connection, ctx: ReferenceContext, *, sender: str, message_id: str | None, payload: dict[str, Any], policy: MatchingPolicy | None = None, now: datetime | None = None) -> int:
    """An export declaration notice arrived from partner ``sender``: store it and try to match it.

    A notice for an export reference already received replaces it (an amendment) and is matched
    again. Returns the notice's id.
    """
    policy = policy or policy_from()
    now = now or utcnow()
    notice = parse(ExportDeclarationNotice, payload)
    if notice.destination_country != ctx.country:
        raise ValidationFailed([Issue("/destination_country", "matching.wrong_destination", {"country": notice.destination_country, "node": ctx.country})])
    values = {
        "partner": sender,
        "message_id": message_id,
        "destination_country": notice.destination_country,
        "ucr": notice.ucr,
        "transport_document_reference": notice.transport_document_reference,
        "consignee_id": notice.consignee.id,
        "export_date": notice.export_date,
        "document": notice.to_payload(),
        "at": now,
    }
    existing = conn.execute(
        select(export_notices.c.id, export_notices.c.declaration_id).where(
            export_notices.c.direction == RECEIVED,
            export_notices.c.exporting_country == notice.exporting_country,
            export_notices.c.export_reference == notice.export_declaration_reference,
        )
    ).first()
    if existing is None:
        notice_id = conn.execute(
            insert(export_notices).values(
                direction=RECEIVED, export_reference=notice.export_declaration_reference, exporting_country=notice.exporting_country, outcome="pending", **values
            ).returning(export_notices.c.id)
        ).scalar_one()
        declaration_id = None
    else:
        notice_id, declaration_id = existing.id, existing.declaration_id
        conn.execute(update(export_notices).where(export_notices.c.id == notice_id).values(**values))
    if declaration_id is None:
        found = _candidates(conn, notice, notice_id)
        declaration_id = found[0].id if found else None
    if declaration_id is not None:
        row = conn.execute(select(export_notices).where(export_notices.c.id == notice_id)).mappings().one()
        _decide(conn, ctx, row, import_facts(conn, declaration_id), policy, now)
    return notice_id


def match_declaration(conn: Connection, ctx: ReferenceContext, declaration_id: int, *, policy: MatchingPolicy | None = None, now: datetime | None = None) -> MatchOutcome | None:
    """Match a newly lodged import declaration with a pending (or *non retrouvée*) export notice.

    Call it in the lodging transaction. Returns the outcome, or None when no notice carries the
    declaration's transport document or UCR. A non-conforming outcome raises the lane.
    """
    policy = policy or policy_from()
    now = now or utcnow()
    row = conn.execute(
        select(declarations.c.id, declarations.c.importer_id, declarations.c.transport_document_reference, declarations.c.status, declarations.c.document).where(
            declarations.c.id == declaration_id
        )
    ).first()
    if row is None:
        raise NotFound("not_found.declaration", id=declaration_id)
    if row.status == EventKind.REJECTED.value:
        return None
    already = conn.execute(select(export_notices.c.id).where(export_notices.c.direction == RECEIVED, export_notices.c.declaration_id == declaration_id)).first()
    if already is not None:
        return None
    keys = []
    if row.transport_document_reference:
        keys.append(export_notices.c.transport_document_reference == row.transport_document_reference)
    ucr = (row.document or {}).get("ucr")
    if ucr:
        keys.append(export_notices.c.ucr == ucr)
    if not keys:
        return None
    notices = conn.execute(
        select(export_notices)
        .where(
            export_notices.c.direction == RECEIVED,
            export_notices.c.declaration_id.is_(None),
            export_notices.c.outcome.in_(("pending", "non_retrouvee")),
            or_(*keys),
        )
        .order_by(export_notices.c.id)
    ).mappings().all()
    if not notices:
        return None
    notice_row = sorted(notices, key=lambda n: (n["consignee_id"] is not None and n["consignee_id"] != row.importer_id, n["id"]))[0]
    return _decide(conn, ctx, notice_row, import_facts(conn, declaration_id), policy, now)


def match_lodged(conn: Connection, ctx: ReferenceContext, declaration_ids: Iterable[int | None], *, policy: MatchingPolicy | None = None) -> None:
    """Mirror control of newly stored import declarations, in the lodging transaction.

    One query tells whether any partner's export notice awaits an import; only then is each
    declaration matched (a non-conforming match raises its lane before the transaction ends)."""
    waiting = conn.execute(
        select(export_notices.c.id)
        .where(export_notices.c.direction == RECEIVED, export_notices.c.declaration_id.is_(None), export_notices.c.outcome.in_(("pending", "non_retrouvee")))
        .limit(1)
    ).first()
    if waiting is None:
        return
    policy = policy or policy_from()
    for declaration_id in declaration_ids:
        if declaration_id is not None:
            match_declaration(conn, ctx, declaration_id, policy=policy)


@dataclass(frozen=True)
class MirrorControlAtLodging:
    """The node's post-lodging step (``avance.declarations.extensions.AfterLodging``): mirror
    control of the declarations just stored, with the node's tolerances."""

    policy: MatchingPolicy

    def __call__(self, conn: Connection, ctx: ReferenceContext, lodged: Sequence[Lodged]) -> None:
        match_lodged(conn, ctx, [item.id for item in lodged], policy=self.policy)


def annex(conn: Connection, declaration_id: int, lang: str, policy: MatchingPolicy | None = None) -> dict[str, Any]:
    """The mirror control of an import declaration, for officers and analysts: the section of a
    declaration's detail (``avance.declarations.extensions.Annex``) and what
    ``GET /matching/declarations/{id}`` answers. Not for declarants: the reasons are risk information."""
    policy = policy or policy_from()
    notices = for_declaration(conn, declaration_id)
    return declaration_view(declaration_id, notices, mirror_signal(conn, declaration_id), lang, policy)


def rematch(conn: Connection, ctx: ReferenceContext, declaration_id: int, *, policy: MatchingPolicy | None = None, now: datetime | None = None) -> MatchOutcome | None:
    """Compare a declaration again with the notice it was matched to (e.g. after new rates), or match it now."""
    policy = policy or policy_from()
    now = now or utcnow()
    row = conn.execute(
        select(export_notices).where(export_notices.c.direction == RECEIVED, export_notices.c.declaration_id == declaration_id)
    ).mappings().first()
    if row is None:
        return match_declaration(conn, ctx, declaration_id, policy=policy, now=now)
    return _decide(conn, ctx, row, import_facts(conn, declaration_id), policy, now)


def sweep(conn: Connection, ctx: ReferenceContext, *, today: date, days: int | None = None, policy: MatchingPolicy | None = None, now: datetime | None = None) -> list[int]:
    """Mark *non retrouvée* the received notices still unmatched ``days`` after their export date.

    Each one is reported to its exporting node. Returns the notices' ids.
    """
    policy = policy or policy_from()
    now = now or utcnow()
    days = policy.deadline_days if days is None else days
    cutoff = today - timedelta(days=days)
    rows = conn.execute(
        select(export_notices)
        .where(export_notices.c.direction == RECEIVED, export_notices.c.outcome == "pending", export_notices.c.export_date < cutoff)
        .order_by(export_notices.c.id)
    ).mappings().all()
    for row in rows:
        _decide(conn, ctx, row, None, policy, now)
    return [row["id"] for row in rows]


# --- the exporting side -----------------------------------------------------------------------


@dataclass(frozen=True)
class SentNotice:
    id: int
    message_id: str | None
    replayed: bool


def send_notice(conn: Connection, ctx: ReferenceContext, notice: ExportDeclarationNotice, *, now: datetime | None = None) -> SentNotice:
    """Send an export declaration of this node to the node of its destination country.

    Stored and queued in the caller's transaction. Sending the same notice again returns the first
    one; the same export reference with other content is a conflict.
    """
    now = now or utcnow()
    if notice.exporting_country != ctx.country:
        raise ValidationFailed([Issue("/exporting_country", "matching.not_our_export", {"country": notice.exporting_country, "node": ctx.country})])
    existing = conn.execute(
        select(export_notices.c.id, export_notices.c.message_id, export_notices.c.document).where(
            export_notices.c.direction == SENT,
            export_notices.c.exporting_country == notice.exporting_country,
            export_notices.c.export_reference == notice.export_declaration_reference,
        )
    ).first()
    if existing is not None:
        if existing.document == notice.to_payload():
            return SentNotice(existing.id, existing.message_id, replayed=True)
        raise Conflict("matching.conflict.notice_exists", reference=notice.export_declaration_reference)
    partner = partner_for_country(conn, notice.destination_country)
    if partner is None:
        raise ValidationFailed([Issue("/destination_country", "movements.no_partner", {"country": notice.destination_country})])
    message_id = send(
        conn,
        to=partner,
        type="export-declaration-notice",
        payload=notice.to_payload(),
        movement=export_movement(notice.exporting_country, notice.export_declaration_reference),
    )
    notice_id = conn.execute(
        insert(export_notices)
        .values(
            direction=SENT,
            partner=partner,
            message_id=message_id,
            export_reference=notice.export_declaration_reference,
            exporting_country=notice.exporting_country,
            destination_country=notice.destination_country,
            ucr=notice.ucr,
            transport_document_reference=notice.transport_document_reference,
            consignee_id=notice.consignee.id,
            export_date=notice.export_date,
            document=notice.to_payload(),
            at=now,
            outcome="pending",
        )
        .returning(export_notices.c.id)
    ).scalar_one()
    return SentNotice(notice_id, message_id, replayed=False)


def on_match_result(conn: Connection, *, sender: str, payload: dict[str, Any]) -> int:
    """A match result arrived from the importing node: record it on the notice this node sent."""
    result = parse(MatchResult, payload)
    row = conn.execute(
        select(export_notices.c.id, export_notices.c.partner).where(
            export_notices.c.direction == SENT,
            export_notices.c.exporting_country == result.exporting_country,
            export_notices.c.export_reference == result.export_declaration_reference,
        )
    ).first()
    if row is None:
        raise NotFound("matching.unknown_notice", reference=result.export_declaration_reference)
    if row.partner != sender:
        raise Forbidden("matching.wrong_partner", reference=result.export_declaration_reference, node=sender)
    currency = result.revenue_gap.currency if result.revenue_gap else (result.exported_value.currency if result.exported_value else None)
    conn.execute(
        update(export_notices)
        .where(export_notices.c.id == row.id)
        .values(
            outcome=result.outcome,
            import_reference=result.import_declaration_reference,
            currency=currency,
            value_gap_percent=result.value_gap_percent,
            revenue_gap=result.revenue_gap.amount if result.revenue_gap else None,
            result=result.to_payload(),
            decided_at=result.decided_at,
        )
    )
    return int(row.id)


# --- reading ----------------------------------------------------------------------------------


def get_notice(conn: Connection, notice_id: int) -> Any:
    row = conn.execute(select(export_notices).where(export_notices.c.id == notice_id)).mappings().first()
    if row is None:
        raise NotFound("matching.not_found", id=notice_id)
    return row


def for_declaration(conn: Connection, declaration_id: int) -> list[Any]:
    """The export notices matched to import declaration ``declaration_id`` (normally one)."""
    if conn.execute(select(declarations.c.id).where(declarations.c.id == declaration_id)).first() is None:
        raise NotFound("not_found.declaration", id=declaration_id)
    return list(
        conn.execute(
            select(export_notices).where(export_notices.c.direction == RECEIVED, export_notices.c.declaration_id == declaration_id).order_by(export_notices.c.id)
        ).mappings()
    )


def search(conn: Connection, *, outcome: str | None = None, direction: str | None = None, page: int = 1, page_size: int = 50) -> tuple[list[Any], int]:
    conditions = []
    if outcome is not None:
        conditions.append(export_notices.c.outcome == outcome)
    if direction is not None:
        conditions.append(export_notices.c.direction == direction)
    where = and_(True, *conditions)
    total = conn.execute(select(func.count()).select_from(export_notices).where(where)).scalar_one()
    rows = conn.execute(
        select(export_notices).where(where).order_by(export_notices.c.id.desc()).limit(page_size).offset((page - 1) * page_size)
    ).mappings()
    return list(rows), total
