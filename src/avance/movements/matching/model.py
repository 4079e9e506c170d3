"""Export-import matching (mirror control, the Côte d'Ivoire-Ghana "Alix" link): the rules, pure.

The exporting node sends each export declaration bound for a partner country as an
``export-declaration-notice``. The importing node stores it and matches it with its own import
declarations: every import declaration citing the notice's bill of lading (transport document
reference) or UCR, not rejected, released ones included, is compared TOGETHER with the notice
(``combine``: their items of the same HS6 and origin summed), so that splitting a shipment between an
honest declaration and an undervalued one does not hide the gap. It compares the consignee with the
importers, the HS6 subheading, the origin, the quantities and the values (the export value converted
to the national currency with the node's own rates). The outcome is:

- ``conforme``: everything agrees within the tolerances;
- ``non_conforme``: the gaps in value, quantity, HS code, origin (and consignee or items), and the
  revenue gap: the duties and taxes the import would owe on the exported value, minus those declared;
- ``non_retrouvee``: no import declaration appeared within the deadline.

A non-conforming outcome is a risk signal: a large value gap raises the lane of every open
declaration of the bill to red, any other gap to yellow (never lower).

This module holds what can be decided without the store: the policy, the comparison, the risk
signal, and the outcome as it travels in a ``match-result`` and comes back from a stored one. It
reads no table, so that the rules can be tested, and reasoned about, on their own;
``avance.movements.matching.service`` applies them inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from avance.declarations.assessment import Lane, Reason
from avance.kit.money import round_money
from avance.kit.settings import get_settings
from avance.movements.payloads import ExportDeclarationNotice, Gap, MatchResult, MonetaryAmount, SignedAmount, Tolerances
from avance.reference.rates import NoExchangeRate
from avance.revenue.calculator import DutyItemInput, InvalidDutyInput, NoTariffLine, compute_duties
from avance.revenue.context import ReferenceContext

OUTCOMES = ("pending", "conforme", "non_conforme", "non_retrouvee")
RECEIVED = "received"
"""Direction of a notice this node received: it imports and matches."""
SENT = "sent"
"""Direction of a notice this node sent: it exported."""
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
    """The import declaration as matching sees it (or the declarations of one bill, combined)."""

    declaration_id: int
    reference: str
    importer_id: str
    registration_date: date
    currency: str
    items: tuple[ImportItem, ...]
    importer_ids: tuple[str, ...] = ()
    """Every importer of the combined declarations (empty: ``importer_id`` alone)."""
    declaration_ids: tuple[int, ...] = ()
    """The declarations combined (empty: ``declaration_id`` alone)."""


def primary_first(facts: Sequence[ImportFacts], consignee: str | None) -> list[ImportFacts]:
    """The declarations of a bill, the one that speaks for the bill first: the consignee's, then the
    oldest."""
    return sorted(facts, key=lambda f: (consignee is not None and f.importer_id != consignee, f.declaration_id))


def combine(facts: Sequence[ImportFacts]) -> ImportFacts:
    """The import declarations of one bill of lading as one import: items of the same HS6 and
    origin summed (net mass, values, duties; the supplementary quantity when every part gives it in
    the same unit), numbered in order of first appearance. The first declaration names the whole
    (its id, reference and importer: put the consignee's first, see ``primary_first``); the rates
    are those of the earliest registration. Pure."""
    if len(facts) == 1:
        return facts[0]
    merged: dict[tuple[str, str], ImportItem] = {}
    for part in facts:
        for item in part.items:
            key = (item.hs_code[:6], item.origin_country)
            known = merged.get(key)
            if known is None:
                merged[key] = replace(item, sequence=len(merged) + 1)
                continue
            same_unit = known.supplementary_quantity is not None and item.supplementary_quantity is not None and known.supplementary_unit == item.supplementary_unit
            merged[key] = replace(
                known,
                net_mass=known.net_mass + item.net_mass,
                supplementary_quantity=known.supplementary_quantity + item.supplementary_quantity if same_unit else None,  # type: ignore[operator]
                fob_value=known.fob_value + item.fob_value,
                customs_value=known.customs_value + item.customs_value,
                duty_total=known.duty_total + item.duty_total,
                duties_due=known.duties_due or item.duties_due,
                preference_claimed=known.preference_claimed and item.preference_claimed,
            )
    first = facts[0]
    return ImportFacts(
        first.declaration_id,
        first.reference,
        first.importer_id,
        min(f.registration_date for f in facts),
        first.currency,
        tuple(merged.values()),
        importer_ids=tuple(dict.fromkeys(f.importer_id for f in facts)),
        declaration_ids=tuple(f.declaration_id for f in facts),
    )


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
    declaration_ids: tuple[int, ...] = ()
    """Every import declaration compared (the bill's); ``declaration_id`` speaks for them."""

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
    """Compare an export declaration with the import found for it: one declaration, or the
    declarations of its bill combined (``combine``) (pure).

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
    if len(facts.declaration_ids) > 1:
        notes.append("matching.note.bill_declarations")
    if consignee is None:
        notes.append("matching.note.no_consignee_id")
    elif consignee not in (facts.importer_ids or (facts.importer_id,)):
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
        declaration_ids=facts.declaration_ids or (facts.declaration_id,),
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


# --- the outcome as it travels and as it is stored ------------------------------------------


def import_reference(row: Any) -> str:
    """How the import declaration is named to the partner: office/year/id (WCO an..35)."""
    return f"{row['office_code']}/{row['registration_date'].year}/{row['id']}"[:35]


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


def export_movement(exporting_country: str, reference: str) -> str:
    """Exchange movement of an export declaration: its notice and results stay in order."""
    return f"EX:{exporting_country}:{reference}"
