"""Mirror control over the store: receiving and sending export notices, matching, the daily sweep.

The importing node stores each ``export-declaration-notice`` (only from the node of the exporting
country) and compares it with ALL its import declarations citing the notice's bill of lading or
UCR, together (not rejected; released ones included, for post-clearance audit), whichever comes
first: the notice (``on_export_notice``) or a declaration (``match_declaration``, run after each
lodging by ``MirrorControlAtLodging``: a declaration lodged later on a bill already compared has the
bill compared again). Each outcome is stored on the notice with the declarations compared
(``export_notice_declarations``), raises the lane of every open declaration of the bill when it
should (through ``declarations.service.raise_lane``, never by writing its tables), and is sent back
to the exporting node as a ``match-result``, all in the caller's transaction. Notices still unmatched after the deadline become *non retrouvée*
(``sweep``). The exporting node sends its notices (``send_notice``) and records the results
(``on_match_result``).

The rules themselves are in ``avance.movements.matching.model``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from avance.store.paging import newest_first
from avance.declarations import service as declarations_service
from avance.declarations.extensions import Lodged
from avance.declarations.lifecycle import EventKind
from avance.declarations.tables import declarations, goods_items
from avance.kit.errors import Conflict, Forbidden, Issue, NotFound, ValidationFailed
from avance.kit.validation import parse
from avance.movements.context import check_speaks_for, partner_for_country, send, utcnow
from avance.movements.matching.model import (
    RECEIVED,
    SENT,
    combine,
    primary_first,
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
from avance.movements.tables import export_notice_declarations, export_notices
from avance.revenue.context import ReferenceContext

MIRROR_ACTOR = "mirror-control"
"""Who raises a declaration's lane after a non-conforming match (its events' actor)."""


# --- the importing side ----------------------------------------------------------------------


def mirror_signal(conn: Connection, declaration_id: int) -> MirrorSignal | None:
    """The latest mirror-control outcome of import declaration ``declaration_id``, if it was matched."""
    row = conn.execute(
        select(export_notices)
        .where(export_notices.c.direction == RECEIVED, export_notices.c.id.in_(_notices_of(declaration_id)))
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


def _notices_of(declaration_id: int) -> Any:
    """The received notices compared with declaration ``declaration_id`` (a subquery)."""
    return select(export_notice_declarations.c.notice_id).where(export_notice_declarations.c.declaration_id == declaration_id)


def _decide(conn: Connection, ctx: ReferenceContext, notice_row: Any, declaration_ids: Sequence[int], policy: MatchingPolicy, now: datetime) -> MatchOutcome:
    """Store the outcome for a received notice compared with the declarations of its bill, raise
    the lane of each open one when needed, tell the exporter."""
    notice = ExportDeclarationNotice.model_validate(notice_row["document"])
    facts = primary_first([f for f in (import_facts(conn, i) for i in declaration_ids) if f is not None], notice.consignee.id)
    outcome = compare(notice, combine(facts), ctx, policy) if facts else not_found_outcome(notice, ctx.currency)
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
    conn.execute(export_notice_declarations.delete().where(export_notice_declarations.c.notice_id == notice_row["id"]))
    if outcome.declaration_ids:
        conn.execute(insert(export_notice_declarations), [{"notice_id": notice_row["id"], "declaration_id": i} for i in outcome.declaration_ids])
    lane = suggested_lane(outcome, policy)
    if lane is not None:
        reasons = mirror_reasons(outcome)
        for declaration_id in outcome.declaration_ids:  # released or rejected ones are left as they are
            declarations_service.raise_lane(conn, declaration_id, lane, reasons, actor=MIRROR_ACTOR, source="mirror_control", now=now)
    send(
        conn,
        to=notice_row["partner"],
        type="match-result",
        payload=result.to_payload(),
        movement=export_movement(notice.exporting_country, notice.export_declaration_reference),
        correlation=notice_row["message_id"],
    )
    return outcome


def _bill_keys(transport_document_reference: str | None, ucr: str | None, tdr_column: Any, ucr_column: Any) -> list[Any]:
    keys = []
    if transport_document_reference:
        keys.append(tdr_column == transport_document_reference)
    if ucr:
        keys.append(ucr_column == ucr)
    return keys


def bill_declarations(conn: Connection, notice: ExportDeclarationNotice) -> list[int]:
    """The import declarations citing the notice's transport document or UCR, not rejected
    (released ones included), by id."""
    keys = _bill_keys(notice.transport_document_reference, notice.ucr, declarations.c.transport_document_reference, declarations.c.document["ucr"].as_string())
    if not keys:
        return []
    return list(
        conn.execute(
            select(declarations.c.id).where(or_(*keys), declarations.c.status != EventKind.REJECTED.value).order_by(declarations.c.id)
        ).scalars()
    )


def on_export_notice(conn: Connection, ctx: ReferenceContext, *, sender: str, message_id: str | None, payload: dict[str, Any], policy: MatchingPolicy | None = None, now: datetime | None = None) -> int:
    """An export declaration notice arrived from partner ``sender``: store it and try to match it.

    A notice for an export reference already received replaces it (an amendment) and is matched
    again. Returns the notice's id.
    """
    policy = policy or policy_from()
    now = now or utcnow()
    notice = parse(ExportDeclarationNotice, payload)
    check_speaks_for(conn, sender=sender, country=notice.exporting_country, message_type="export-declaration-notice")
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
    else:
        notice_id = existing.id
        conn.execute(update(export_notices).where(export_notices.c.id == notice_id).values(**values))
    found = bill_declarations(conn, notice)
    if found:
        row = conn.execute(select(export_notices).where(export_notices.c.id == notice_id)).mappings().one()
        _decide(conn, ctx, row, found, policy, now)
    return notice_id


def match_declaration(conn: Connection, ctx: ReferenceContext, declaration_id: int, *, policy: MatchingPolicy | None = None, now: datetime | None = None) -> MatchOutcome | None:
    """Mirror control of a newly lodged import declaration: the export notice citing its bill of
    lading or UCR (pending, *non retrouvée*, or already compared with other declarations of the
    bill) is compared again with every declaration of the bill, this one included.

    Call it in the lodging transaction. Returns the outcome, or None when no notice cites the
    declaration's bill (or it was already compared). A non-conforming outcome raises the lanes.
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
    if conn.execute(_notices_of(declaration_id)).first() is not None:
        return None
    keys = _bill_keys(row.transport_document_reference, (row.document or {}).get("ucr"), export_notices.c.transport_document_reference, export_notices.c.ucr)
    if not keys:
        return None
    notices = conn.execute(select(export_notices).where(export_notices.c.direction == RECEIVED, or_(*keys)).order_by(export_notices.c.id)).mappings().all()
    if not notices:
        return None
    notice_row = sorted(notices, key=lambda n: (n["consignee_id"] is not None and n["consignee_id"] != row.importer_id, n["id"]))[0]
    notice = ExportDeclarationNotice.model_validate(notice_row["document"])
    return _decide(conn, ctx, notice_row, bill_declarations(conn, notice), policy, now)


def match_lodged(conn: Connection, ctx: ReferenceContext, declaration_ids: Iterable[int | None], *, policy: MatchingPolicy | None = None) -> None:
    """Mirror control of newly stored import declarations, in the lodging transaction.

    One query tells whether any partner's export notice cites their bills; only then is each
    declaration matched (a non-conforming match raises the lanes before the transaction ends)."""
    ids = [i for i in declaration_ids if i is not None]
    if not ids:
        return
    cited = conn.execute(select(declarations.c.transport_document_reference, declarations.c.document["ucr"].as_string()).where(declarations.c.id.in_(ids))).all()
    keys = [
        column.in_(values)
        for column, values in (
            (export_notices.c.transport_document_reference, {r[0] for r in cited if r[0]}),
            (export_notices.c.ucr, {r[1] for r in cited if r[1]}),
        )
        if values
    ]
    if not keys or conn.execute(select(export_notices.c.id).where(export_notices.c.direction == RECEIVED, or_(*keys)).limit(1)).first() is None:
        return
    policy = policy or policy_from()
    for declaration_id in ids:
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
        select(export_notices).where(export_notices.c.direction == RECEIVED, export_notices.c.id.in_(_notices_of(declaration_id))).order_by(export_notices.c.id)
    ).mappings().first()
    if row is None:
        return match_declaration(conn, ctx, declaration_id, policy=policy, now=now)
    notice = ExportDeclarationNotice.model_validate(row["document"])
    return _decide(conn, ctx, row, bill_declarations(conn, notice), policy, now)


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
        _decide(conn, ctx, row, (), policy, now)
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
    check_speaks_for(conn, sender=sender, country=result.importing_country, message_type="match-result")
    row = conn.execute(
        select(export_notices.c.id, export_notices.c.partner, export_notices.c.destination_country).where(
            export_notices.c.direction == SENT,
            export_notices.c.exporting_country == result.exporting_country,
            export_notices.c.export_reference == result.export_declaration_reference,
        )
    ).first()
    if row is None:
        raise NotFound("matching.unknown_notice", reference=result.export_declaration_reference)
    if row.partner != sender or row.destination_country != result.importing_country:
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
    return dict(row) | {"bill_declarations": bill_of(conn, notice_id)}


def for_declaration(conn: Connection, declaration_id: int) -> list[Any]:
    """The export notices compared with import declaration ``declaration_id`` (normally one), each
    with the declarations of its bill it was compared with (``bill_declarations``)."""
    if conn.execute(select(declarations.c.id).where(declarations.c.id == declaration_id)).first() is None:
        raise NotFound("not_found.declaration", id=declaration_id)
    rows = list(
        conn.execute(
            select(export_notices).where(export_notices.c.direction == RECEIVED, export_notices.c.id.in_(_notices_of(declaration_id))).order_by(export_notices.c.id)
        ).mappings()
    )
    return [dict(r) | {"bill_declarations": bill_of(conn, r["id"])} for r in rows]


def bill_of(conn: Connection, notice_id: int) -> list[int]:
    """The declarations received notice ``notice_id`` was compared with, together, by id."""
    return list(
        conn.execute(
            select(export_notice_declarations.c.declaration_id).where(export_notice_declarations.c.notice_id == notice_id).order_by(export_notice_declarations.c.declaration_id)
        ).scalars()
    )


def search(conn: Connection, *, outcome: str | None = None, direction: str | None = None, page: int = 1, page_size: int = 50) -> tuple[list[Any], int]:
    conditions = []
    if outcome is not None:
        conditions.append(export_notices.c.outcome == outcome)
    if direction is not None:
        conditions.append(export_notices.c.direction == direction)
    return newest_first(conn, select(export_notices), export_notices, conditions, limit=page_size, offset=(page - 1) * page_size)
