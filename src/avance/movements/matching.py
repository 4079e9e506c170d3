"""Export-import matching (mirror control, the Côte d'Ivoire-Ghana "Alix" link).

The exporting node sends each export declaration bound for a partner country as an
``export-declaration-notice``. The importing node stores it and matches it with its own import
declaration: first by transport document reference or UCR, then it compares the consignee with the
importer, the HS6 subheading, the origin, the quantities and the values (the export value converted
to the national currency with the node's own rates). The outcome is:

- ``conforme``: everything agrees within the tolerances;
- ``non_conforme``: the gaps in value, quantity, HS code, origin (and consignee or items), and the
  revenue gap: the duties and taxes the import would owe on the exported value, minus those declared;
- ``non_retrouvee``: no import declaration appeared within the deadline (``sweep``).

The importing node sends the outcome back as a ``match-result``. A non-conforming outcome is a risk
signal: a large value gap raises the declaration's lane to red, any other gap to yellow (never lower).

``compare`` is pure; the other functions take a connection inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from collections.abc import Sequence
from typing import Any, Iterable

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from avance.declarations import service as declarations_service
from avance.declarations.extensions import Lodged
from avance.declarations.lifecycle import EventKind
from avance.revenue.context import ReferenceContext
from avance.kit.errors import Conflict, Forbidden, Issue, NotFound, ValidationFailed
from avance.movements.context import partner_for_country, send, utcnow
from avance.movements.payloads import ExportDeclarationNotice, Gap, MatchResult, MonetaryAmount, SignedAmount, Tolerances
from avance.kit.i18n import t
from avance.kit.settings import get_settings
from avance.kit.money import round_money
from avance.reference.rates import NoExchangeRate
from avance.revenue.calculator import DutyItemInput, InvalidDutyInput, NoTariffLine, compute_duties
from avance.declarations.assessment import Lane, Reason
from avance.declarations.tables import declarations, goods_items
from avance.movements.tables import export_notices
from avance.kit.validation import parse

OUTCOMES = ("pending", "conforme", "non_conforme", "non_retrouvee")
RECEIVED = "received"
SENT = "sent"
MIRROR_ACTOR = "mirror-control"
_TENTH = Decimal("0.1")


@dataclass(frozen=True)
class MatchingPolicy:
    """Tolerances and deadline of the mirror control (settings ``AVANCE_MATCHING_*``)."""

    value_tolerance_percent: Decimal = Decimal(5)
    quantity_tolerance_percent: Decimal = Decimal(2)
    large_value_gap_percent: Decimal = Decimal(20)
    deadline_days: int = 30

    def tolerances(self) -> Tolerances:
        return Tolerances(value_percent=self.value_tolerance_percent, quantity_percent=self.quantity_tolerance_percent)


def policy_from(settings: Any = None) -> MatchingPolicy:
    """The policy configured in ``settings`` (the defaults where a setting is absent)."""
    if settings is None:
        settings = get_settings()
    default = MatchingPolicy()

    def pick(name: str, fallback: Any) -> Any:
        value = getattr(settings, name, None)
        return fallback if value is None else value

    return MatchingPolicy(
        value_tolerance_percent=Decimal(str(pick("matching_value_tolerance_percent", default.value_tolerance_percent))),
        quantity_tolerance_percent=Decimal(str(pick("matching_quantity_tolerance_percent", default.quantity_tolerance_percent))),
        large_value_gap_percent=Decimal(str(pick("matching_large_value_gap_percent", default.large_value_gap_percent))),
        deadline_days=int(pick("matching_deadline_days", default.deadline_days)),
    )


# --- the comparison (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class ImportItem:
    """One item of the import declaration, with the values the node computed (national currency)."""

    sequence: int
    hs_code: str
    origin_country: str
    net_mass: Decimal
    supplementary_quantity: Decimal | None
    supplementary_unit: str | None
    fob_value: Decimal
    customs_value: Decimal
    duty_total: Decimal
    duties_due: bool
    preference_claimed: bool


@dataclass(frozen=True)
class ImportFacts:
    """The import declaration as matching sees it."""

    declaration_id: int
    reference: str
    importer_id: str
    registration_date: date
    currency: str
    items: tuple[ImportItem, ...]


@dataclass(frozen=True)
class MatchOutcome:
    """The outcome of matching one export declaration."""

    outcome: str  # conforme, non_conforme, non_retrouvee
    currency: str
    gaps: tuple[Gap, ...] = ()
    declaration_id: int | None = None
    import_reference: str | None = None
    registration_date: date | None = None
    exported_value: Decimal | None = None
    declared_value: Decimal | None = None
    value_gap_percent: Decimal | None = None
    revenue_gap: Decimal | None = None
    notes: tuple[str, ...] = ()
    export_reference: str | None = None
    exporting_country: str | None = None

    @property
    def gap_kinds(self) -> frozenset[str]:
        return frozenset(g.kind for g in self.gaps)


def percent_difference(exported: Decimal, declared: Decimal) -> Decimal | None:
    """(declared - exported) / exported x 100, to one decimal; None when nothing was exported but something declared."""
    if exported == 0:
        return Decimal("0.0") if declared == 0 else None
    return ((declared - exported) * 100 / exported).quantize(_TENTH, rounding=ROUND_HALF_UP)


def _beyond(percent: Decimal | None, tolerance: Decimal) -> bool:
    return percent is None or abs(percent) > tolerance


def _text(value: Decimal) -> str:
    return format(value, "f")


def _pair(export_items: Iterable[Any], import_items: Iterable[ImportItem]) -> tuple[list[tuple[Any, ImportItem]], list[Any], list[ImportItem]]:
    """Pair export and import items: same HS6 first, then same sequence, then in order."""
    remaining = list(import_items)
    pairs = []
    unpaired = []
    exports = list(export_items)
    chosen: dict[int, ImportItem] = {}
    for e in exports:  # same HS6
        match = next((i for i in remaining if i.hs_code[:6] == e.hs_code[:6]), None)
        if match is not None:
            chosen[e.sequence] = match
            remaining.remove(match)
    for e in exports:  # then the same sequence, then whatever is left, in order
        if e.sequence in chosen:
            continue
        match = next((i for i in remaining if i.sequence == e.sequence), None) or (remaining[0] if remaining else None)
        if match is not None:
            chosen[e.sequence] = match
            remaining.remove(match)
    for e in exports:
        if e.sequence in chosen:
            pairs.append((e, chosen[e.sequence]))
        else:
            unpaired.append(e)
    return pairs, unpaired, remaining


def compare(notice: ExportDeclarationNotice, facts: ImportFacts, ctx: ReferenceContext, policy: MatchingPolicy) -> MatchOutcome:
    """Compare an export declaration with the import declaration found for it (pure).

    Values: each export item's statistical value (FOB at the exporting border) is converted to the
    national currency at the node's rate of the import's registration date and compared with the
    item's declared FOB value. Revenue: each item is assessed again with the real calculator on the
    exported value (plus the freight and insurance the import declared), the exported origin and,
    when the HS6 differs, the exported classification; the gap is that minus the duties declared.
    """
    currency = ctx.currency
    on = facts.registration_date
    gaps: list[Gap] = []
    notes: list[str] = []

    consignee = notice.consignee.id
    if consignee is None:
        notes.append("matching.note.no_consignee_id")
    elif consignee != facts.importer_id:
        gaps.append(Gap(kind="consignee", exported=consignee, declared=facts.importer_id))

    rate: Decimal | None
    value_currency = notice.totals.statistical_value.currency
    try:
        rate = ctx.rates.rate(value_currency, on)
    except NoExchangeRate:
        rate = None
        notes.append("matching.note.no_rate")

    def converted(amount: Decimal) -> Decimal:
        assert rate is not None
        return round_money(amount * rate, currency)

    pairs, unpaired_exports, unpaired_imports = _pair(notice.items, facts.items)
    revenue = Decimal(0)
    revenue_known = rate is not None
    for e, i in pairs:
        if e.hs_code[:6] != i.hs_code[:6]:
            gaps.append(Gap(kind="hs_code", export_item=e.sequence, import_item=i.sequence, exported=e.hs_code, declared=i.hs_code))
        if e.origin_country != i.origin_country:
            gaps.append(Gap(kind="origin", export_item=e.sequence, import_item=i.sequence, exported=e.origin_country, declared=i.origin_country))
        mass_gap = percent_difference(e.net_mass, i.net_mass)
        if _beyond(mass_gap, policy.quantity_tolerance_percent):
            gaps.append(Gap(kind="quantity", export_item=e.sequence, import_item=i.sequence, exported=_text(e.net_mass), declared=_text(i.net_mass), unit="KGM", difference_percent=mass_gap))
        if (
            e.supplementary_quantity is not None
            and i.supplementary_quantity is not None
            and e.supplementary_unit == i.supplementary_unit
        ):
            quantity_gap = percent_difference(e.supplementary_quantity, i.supplementary_quantity)
            if _beyond(quantity_gap, policy.quantity_tolerance_percent):
                gaps.append(
                    Gap(
                        kind="quantity",
                        export_item=e.sequence,
                        import_item=i.sequence,
                        exported=_text(e.supplementary_quantity),
                        declared=_text(i.supplementary_quantity),
                        unit=e.supplementary_unit,
                        difference_percent=quantity_gap,
                    )
                )
        if rate is None:
            continue
        exported = converted(e.statistical_value.amount)
        value_gap = percent_difference(exported, i.fob_value)
        if _beyond(value_gap, policy.value_tolerance_percent):
            gaps.append(Gap(kind="value", export_item=e.sequence, import_item=i.sequence, exported=_text(exported), declared=_text(i.fob_value), unit=currency, difference_percent=value_gap))
        hs_code = i.hs_code
        if e.hs_code[:6] != i.hs_code[:6] and ctx.schedule.lookup(e.hs_code, on) is not None:
            hs_code = e.hs_code
        transport = max(i.customs_value - i.fob_value, Decimal(0))  # freight and insurance the import declared
        due = _duties(ctx, hs_code, e.origin_country, exported + transport, exported, i.preference_claimed, on)
        if due is None:
            revenue_known = False
            continue
        revenue += (due if i.duties_due else Decimal(0)) - i.duty_total
    for e in unpaired_exports:
        gaps.append(Gap(kind="items", export_item=e.sequence, exported=e.hs_code))
        if rate is None:
            continue
        exported = converted(e.statistical_value.amount)
        due = _duties(ctx, e.hs_code, e.origin_country, exported, exported, False, on)
        if due is None:
            revenue_known = False
        else:
            revenue += due
    for i in unpaired_imports:
        gaps.append(Gap(kind="items", import_item=i.sequence, declared=i.hs_code))
    if rate is not None and not revenue_known:
        notes.append("matching.note.no_tariff_line")

    exported_total = converted(notice.totals.statistical_value.amount) if rate is not None else None
    declared_total = sum((i.fob_value for i in facts.items), Decimal(0))
    return MatchOutcome(
        outcome="non_conforme" if gaps else "conforme",
        currency=currency,
        gaps=tuple(gaps),
        declaration_id=facts.declaration_id,
        import_reference=facts.reference,
        registration_date=on,
        exported_value=exported_total,
        declared_value=round_money(declared_total, currency),
        value_gap_percent=percent_difference(exported_total, declared_total) if exported_total is not None else None,
        revenue_gap=round_money(revenue, currency) if revenue_known else None,
        notes=tuple(notes),
        export_reference=notice.export_declaration_reference,
        exporting_country=notice.exporting_country,
    )


def _duties(ctx: ReferenceContext, hs_code: str, origin: str, customs_value: Decimal, fob: Decimal, preference: bool, on: date) -> Decimal | None:
    try:
        return compute_duties(ctx.profile, ctx.schedule, DutyItemInput(hs_code, origin, customs_value, fob, preference), on).total
    except (NoTariffLine, InvalidDutyInput):
        return None


def not_found_outcome(notice: ExportDeclarationNotice, currency: str) -> MatchOutcome:
    return MatchOutcome(
        outcome="non_retrouvee",
        currency=currency,
        export_reference=notice.export_declaration_reference,
        exporting_country=notice.exporting_country,
    )


# --- the risk signal -------------------------------------------------------------------------


def suggested_lane(outcome: MatchOutcome, policy: MatchingPolicy | None = None) -> Lane | None:
    """Red when the import declares a value far below the exported one, yellow for any other gap."""
    if outcome.outcome != "non_conforme":
        return None
    return Lane.RED if large_value_gap(outcome, policy or policy_from()) else Lane.YELLOW


def large_value_gap(outcome: MatchOutcome, policy: MatchingPolicy | None = None) -> bool:
    """The import declares a value lower than the exported one by the large-gap threshold or more."""
    threshold = (policy or MatchingPolicy()).large_value_gap_percent
    if outcome.value_gap_percent is not None and outcome.value_gap_percent <= -threshold:
        return True
    return any(g.kind == "value" and g.difference_percent is not None and g.difference_percent <= -threshold for g in outcome.gaps)


def mirror_reasons(outcome: MatchOutcome) -> list[Reason]:
    """Why the mirror control asks for more control: one reason per kind of gap (catalog keys)."""
    if outcome.outcome != "non_conforme":
        return []
    reasons: list[Reason] = []
    ref = {"reference": outcome.export_reference or "", "country": outcome.exporting_country or ""}
    if "value" in outcome.gap_kinds:
        reasons.append(
            Reason(
                "matching.reason.value_gap",
                ref
                | {
                    "percent": _text(outcome.value_gap_percent) if outcome.value_gap_percent is not None else "?",
                    "exported": _text(outcome.exported_value) if outcome.exported_value is not None else "?",
                    "declared": _text(outcome.declared_value) if outcome.declared_value is not None else "?",
                    "currency": outcome.currency,
                },
            )
        )
    for kind in ("hs_code", "origin", "quantity", "consignee", "items"):
        found = [g for g in outcome.gaps if g.kind == kind]
        if found:
            first = found[0]
            reasons.append(Reason(f"matching.reason.{kind}", ref | {"exported": first.exported or "-", "declared": first.declared or "-", "count": len(found)}))
    if outcome.revenue_gap is not None and outcome.revenue_gap > 0:
        reasons.append(Reason("matching.reason.revenue_gap", ref | {"amount": _text(outcome.revenue_gap), "currency": outcome.currency}))
    return reasons


@dataclass(frozen=True)
class MirrorSignal:
    """What the assessor learns from the mirror control of a declaration."""

    notice_id: int
    outcome: str
    value_gap_percent: Decimal | None
    revenue_gap: Decimal | None
    currency: str | None
    gap_kinds: frozenset[str]
    lane: Lane | None
    reasons: tuple[Reason, ...] = field(default=())


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


# --- stored outcomes --------------------------------------------------------------------------


def import_reference(row: Any) -> str:
    """How the import declaration is named to the partner: office/year/id (WCO an..35)."""
    return f"{row['office_code']}/{row['registration_date'].year}/{row['id']}"[:35]


def import_facts(conn: Connection, declaration_id: int) -> ImportFacts | None:
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


def result_payload(outcome: MatchOutcome, importing_country: str, decided_at: datetime, policy: MatchingPolicy) -> MatchResult:
    currency = outcome.currency

    def money(value: Decimal | None) -> MonetaryAmount | None:
        return None if value is None else MonetaryAmount(amount=value, currency=currency)

    return MatchResult(
        export_declaration_reference=outcome.export_reference or "",
        exporting_country=outcome.exporting_country or "",
        importing_country=importing_country,
        outcome=outcome.outcome,  # type: ignore[arg-type]
        decided_at=decided_at,
        import_declaration_reference=outcome.import_reference,
        import_registration_date=outcome.registration_date,
        exported_value=money(outcome.exported_value),
        declared_value=money(outcome.declared_value),
        value_gap_percent=outcome.value_gap_percent,
        revenue_gap=None if outcome.revenue_gap is None else SignedAmount(amount=outcome.revenue_gap, currency=currency),
        gaps=list(outcome.gaps),
        tolerances=policy.tolerances() if outcome.outcome != "non_retrouvee" else None,
        notes=list(outcome.notes),
    )


def outcome_from_row(row: Any) -> MatchOutcome:
    """The stored outcome of a notice (either direction) as a MatchOutcome."""
    result = MatchResult.model_validate(row["result"])
    return MatchOutcome(
        outcome=result.outcome,
        currency=row["currency"] or (result.revenue_gap.currency if result.revenue_gap else ""),
        gaps=tuple(result.gaps),
        declaration_id=row["declaration_id"],
        import_reference=result.import_declaration_reference,
        registration_date=result.import_registration_date,
        exported_value=result.exported_value.amount if result.exported_value else None,
        declared_value=result.declared_value.amount if result.declared_value else None,
        value_gap_percent=result.value_gap_percent,
        revenue_gap=result.revenue_gap.amount if result.revenue_gap else None,
        notes=tuple(result.notes),
        export_reference=result.export_declaration_reference,
        exporting_country=result.exporting_country,
    )


def _movement(exporting_country: str, reference: str) -> str:
    """Exchange movement of an export declaration: its notice and results stay in order."""
    return f"EX:{exporting_country}:{reference}"


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
        movement=_movement(notice.exporting_country, notice.export_declaration_reference),
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


def annex(conn: Connection, declaration_id: int, lang: str) -> dict[str, Any]:
    """The mirror-control section of a declaration's detail (``avance.declarations.extensions.Annex``)."""
    return declaration_view(conn, declaration_id, lang)


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
        movement=_movement(notice.exporting_country, notice.export_declaration_reference),
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


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def gap_view(gap: dict[str, Any], lang: str) -> dict[str, Any]:
    return gap | {"label": t(f"matching.gap.{gap['kind']}", lang)}


def notice_view(row: Any, lang: str, policy: MatchingPolicy | None = None) -> dict[str, Any]:
    """A notice and its outcome, as shown to officers and analysts."""
    policy = policy or policy_from()
    result = row["result"] or {}
    view = {
        "id": row["id"],
        "direction": row["direction"],
        "partner": row["partner"],
        "export_reference": row["export_reference"],
        "exporting_country": row["exporting_country"],
        "destination_country": row["destination_country"],
        "ucr": row["ucr"],
        "transport_document_reference": row["transport_document_reference"],
        "consignee_id": row["consignee_id"],
        "export_date": row["export_date"].isoformat(),
        "at": row["at"].isoformat(),
        "outcome": row["outcome"],
        "outcome_label": t(f"matching.outcome.{row['outcome']}", lang),
        "declaration_id": row["declaration_id"],
        "import_reference": row["import_reference"],
        "currency": row["currency"],
        "value_gap_percent": result.get("value_gap_percent", _plain(row["value_gap_percent"])),
        "revenue_gap": (result.get("revenue_gap") or {}).get("amount", _plain(row["revenue_gap"])),
        "exported_value": (result.get("exported_value") or {}).get("amount"),
        "declared_value": (result.get("declared_value") or {}).get("amount"),
        "gaps": [gap_view(g, lang) for g in result.get("gaps", [])],
        "notes": [t(n, lang) for n in result.get("notes", [])],
        "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None,
        "notice": row["document"],
    }
    if row["direction"] == RECEIVED and row["outcome"] == "pending":
        view["deadline"] = (row["export_date"] + timedelta(days=policy.deadline_days)).isoformat()
    return view


def declaration_view(conn: Connection, declaration_id: int, lang: str, policy: MatchingPolicy | None = None) -> dict[str, Any]:
    """The mirror control of an import declaration, for officers and analysts (not declarants:
    the reasons are risk information): outcome, suggested lane, reasons, the notices matched."""
    policy = policy or policy_from()
    rows = for_declaration(conn, declaration_id)
    signal = mirror_signal(conn, declaration_id)
    return {
        "declaration_id": declaration_id,
        "outcome": signal.outcome if signal else None,
        "outcome_label": t(f"matching.outcome.{signal.outcome}", lang) if signal else None,
        "suggested_lane": signal.lane.value if signal and signal.lane else None,
        "reasons": [{"code": r.code, "detail": r.message(lang)} for r in signal.reasons] if signal else [],
        "matches": [notice_view(r, lang, policy) for r in rows],
    }


def summary(row: Any, lang: str) -> dict[str, Any]:
    """One line of a list of notices."""
    return {
        "id": row["id"],
        "direction": row["direction"],
        "partner": row["partner"],
        "export_reference": row["export_reference"],
        "exporting_country": row["exporting_country"],
        "export_date": row["export_date"].isoformat(),
        "outcome": row["outcome"],
        "outcome_label": t(f"matching.outcome.{row['outcome']}", lang),
        "declaration_id": row["declaration_id"],
        "value_gap_percent": (row["result"] or {}).get("value_gap_percent", _plain(row["value_gap_percent"])),
        "revenue_gap": ((row["result"] or {}).get("revenue_gap") or {}).get("amount", _plain(row["revenue_gap"])),
        "currency": row["currency"],
    }
