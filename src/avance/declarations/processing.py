"""From a lodged declaration to an assessed one: reference and business rules, customs value,
duties and taxes, lane. Pure: everything it needs comes in a ``NodeContext`` and a ``Lookups``,
so that the API, the bulk importer and the demo run exactly the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from avance.declarations.model import GoodsDeclaration
from avance.kit.errors import Issue, ValidationFailed
from avance.kit.money import minor_units, round_money
from avance.reference import is_country, is_currency_code, is_hs_code, procedures
from avance.reference.containers import container_check_digit_ok
from avance.reference.rates import NoExchangeRate
from avance.revenue.calculator import DutyBreakdown, DutyItemInput, NoTariffLine, combine, compute_duties
from avance.revenue.context import ReferenceContext, check_office
from avance.revenue.customs_value import included_charges, item_values
from avance.declarations.assessment import CONSIGNEE_DIFFERS, SPLIT_CONSIGNMENT, Assessment, AssessmentInput, Assessor, ItemFacts
from avance.manifests.model import BillFacts, Claim
from avance.declarations.extensions import AfterLodging, Annex


@dataclass(frozen=True)
class NodeContext(ReferenceContext):
    """What a node knows that lodging needs: its reference data, the assessor of lanes, and the
    steps other capabilities add to a lodging (``avance.declarations.extensions``)."""

    assessor: Assessor
    after_lodging: tuple[AfterLodging, ...] = ()
    annexes: tuple[tuple[str, Annex], ...] = ()


class Lookups(Protocol):
    """What the rules need from the store."""

    def lrn_taken(self, declarant_id: str, lrn: str) -> bool: ...

    def manifest_bills(self, manifest_reference: str) -> Mapping[str, BillFacts] | None:
        """Transport documents on the manifest with their consignee, or None when no such manifest was lodged."""
        ...


@dataclass
class MemoryLookups:
    """Lookups over sets held in memory (bulk import preloads them; tests fill them)."""

    lrns: set[tuple[str, str]] = field(default_factory=set)
    manifests: dict[str, Mapping[str, BillFacts]] = field(default_factory=dict)

    def lrn_taken(self, declarant_id: str, lrn: str) -> bool:
        return (declarant_id, lrn) in self.lrns

    def manifest_bills(self, manifest_reference: str) -> Mapping[str, BillFacts] | None:
        return self.manifests.get(manifest_reference)


@dataclass(frozen=True)
class ItemResult:
    customs_value: Decimal
    fob_value: Decimal
    duties_due: bool
    duties: DutyBreakdown


@dataclass(frozen=True)
class ProcessedDeclaration:
    declaration: GoodsDeclaration
    registration_date: date
    currency: str
    items: tuple[ItemResult, ...]
    customs_value: Decimal
    duties: DutyBreakdown  # lines of the items whose procedure makes duties due
    assessment: Assessment

    @property
    def duty_total(self) -> Decimal:
        return self.duties.total


def _check_party_countries(d: GoodsDeclaration, issues: list[Issue]) -> None:
    for role in ("declarant", "importer", "exporter", "consignor", "consignee"):
        party = getattr(d, role)
        if party is not None and party.country is not None and not is_country(party.country):
            issues.append(Issue(f"/{role}/country", "country.unknown", {"code": party.country}))
    means = d.transport_means
    if means is not None and means.nationality is not None and not is_country(means.nationality):
        issues.append(Issue("/transport_means/nationality", "country.unknown", {"code": means.nationality}))


def check(ctx: NodeContext, d: GoodsDeclaration, registration_date: date, lookups: Lookups) -> list[Issue]:
    """Every reference and business rule; an empty list means the declaration is acceptable."""
    issues: list[Issue] = []
    check_office(ctx, d.office_code, d.transport_mode_code, issues)
    known_procedures = procedures()
    if d.procedure_code not in known_procedures:
        issues.append(Issue("/procedure_code", "procedure.unknown", {"code": d.procedure_code}))
    if not is_currency_code(d.invoice_currency):
        issues.append(Issue("/invoice_currency", "currency.unknown", {"code": d.invoice_currency}))
    else:
        try:
            ctx.rates.rate(d.invoice_currency, registration_date)
        except NoExchangeRate:
            issues.append(Issue("/invoice_currency", "currency.no_rate", {"code": d.invoice_currency, "date": registration_date}))
    _check_party_countries(d, issues)

    if d.goods_item_quantity != len(d.goods_items):
        issues.append(Issue("/goods_item_quantity", "items.count_mismatch", {"declared": d.goods_item_quantity, "found": len(d.goods_items)}))
    sequences = [item.sequence for item in d.goods_items]
    if sorted(sequences) != list(range(1, len(sequences) + 1)):
        issues.append(Issue("/goods_items", "items.sequence", {"count": len(sequences)}))

    declared_containers = {c.id for c in d.containers}
    for i, container in enumerate(d.containers):
        if not container_check_digit_ok(container.id):
            issues.append(Issue(f"/containers/{i}/id", "container.check_digit", {"id": container.id}))
    if len(declared_containers) != len(d.containers):
        issues.append(Issue("/containers", "container.duplicate", {}))

    invoice_sum = Decimal(0)
    packages = 0
    for i, item in enumerate(d.goods_items):
        where = f"/goods_items/{i}"
        invoice_sum += item.invoice_amount
        packages += sum(p.quantity for p in item.packages)
        if not is_hs_code(item.hs_code):
            issues.append(Issue(f"{where}/hs_code", "hs.unknown", {"code": item.hs_code}))
        elif ctx.schedule.lookup(item.hs_code, registration_date) is None:
            issues.append(Issue(f"{where}/hs_code", "hs.no_tariff_line", {"code": item.hs_code, "date": registration_date}))
        if not is_country(item.origin_country):
            issues.append(Issue(f"{where}/origin_country", "country.unknown", {"code": item.origin_country}))
        if item.procedure_code is not None and item.procedure_code not in known_procedures:
            issues.append(Issue(f"{where}/procedure_code", "procedure.unknown", {"code": item.procedure_code}))
        if item.gross_mass < item.net_mass:
            issues.append(Issue(f"{where}/gross_mass", "mass.gross_below_net", {"gross": item.gross_mass, "net": item.net_mass}))
        for j, container_id in enumerate(item.container_ids):
            if container_id not in declared_containers:
                issues.append(Issue(f"{where}/container_ids/{j}", "container.undeclared", {"id": container_id}))

    if is_currency_code(d.invoice_currency):
        tolerance = Decimal(1).scaleb(-minor_units(d.invoice_currency))
        if abs(invoice_sum - d.invoice_amount) > tolerance:
            issues.append(Issue("/invoice_amount", "invoice.sum_mismatch", {"declared": d.invoice_amount, "items": invoice_sum}))
    if included_charges(d.incoterm, d.freight_amount, d.insurance_amount) > d.invoice_amount:
        issues.append(Issue("/freight_amount", "valuation.fob_negative", {"incoterm": d.incoterm}))
    if d.total_package_quantity is not None and packages and packages != d.total_package_quantity:
        issues.append(Issue("/total_package_quantity", "packages.count_mismatch", {"declared": d.total_package_quantity, "items": packages}))

    arrival = d.estimated_arrival.date()
    earliest = registration_date - timedelta(days=ctx.arrival_past_days)
    latest = registration_date + timedelta(days=ctx.arrival_future_days)
    if not earliest <= arrival <= latest:
        issues.append(Issue("/estimated_arrival", "arrival.implausible", {"earliest": earliest, "latest": latest}))

    if d.manifest_reference is not None:
        bills = lookups.manifest_bills(d.manifest_reference)
        if bills is None:
            issues.append(Issue("/manifest_reference", "manifest.unknown", {"reference": d.manifest_reference}))
        elif d.transport_document_reference is not None and d.transport_document_reference not in bills:
            issues.append(
                Issue("/transport_document_reference", "manifest.bill_unknown", {"bill": d.transport_document_reference, "reference": d.manifest_reference})
            )
        elif d.transport_document_reference is not None:
            bill = bills[d.transport_document_reference]
            if consignee_mismatch(bill, d):
                issues.append(Issue("/importer/id", "consignment.consignee_mismatch", {"bill": d.transport_document_reference}))
    if lookups.lrn_taken(d.declarant.id, d.lrn):
        issues.append(Issue("/lrn", "lrn.duplicate", {"lrn": d.lrn, "declarant": d.declarant.id}))
    return issues


def _cited_bill(d: GoodsDeclaration, lookups: Lookups) -> BillFacts | None:
    if d.manifest_reference is None or d.transport_document_reference is None:
        return None
    bills = lookups.manifest_bills(d.manifest_reference)
    return None if bills is None else bills.get(d.transport_document_reference)


def consignee_mismatch(bill: BillFacts, d: GoodsDeclaration) -> bool:
    """The bill names a consignee (by identification) who is not the declared importer, and the
    bill is not made out to order or to a bank: refused."""
    return bill.consignee_id is not None and bill.consignee_id != d.importer.id and not bill.to_order


def signals(d: GoodsDeclaration, bill: BillFacts | None) -> frozenset[str]:
    """What the assessor is told beyond the declaration's figures:

    - ``split_consignment``: the declarant says this clears one part of its transport document;
    - ``consignee_differs``: the cited bill is made out to order or to a bank, and the importer is
      not its named consignee (the bill was endorsed over: whoever holds it takes the goods).
    """
    found = set()
    if d.split_consignment and d.transport_document_reference is not None:
        found.add(SPLIT_CONSIGNMENT)
    if bill is not None and bill.to_order and bill.consignee_id != d.importer.id:
        found.add(CONSIGNEE_DIFFERS)
    return frozenset(found)


def consignment_claim(d: GoodsDeclaration) -> Claim | None:
    """What ``d`` declares against its transport document (None without one): its packages (the
    declared total, else the sum of its items' packages), its gross mass (the sum of its items'),
    and what tells whether another declaration declares the same goods (HS headings, containers)."""
    if d.transport_document_reference is None:
        return None
    packages = d.total_package_quantity
    if packages is None:
        packages = sum(p.quantity for item in d.goods_items for p in item.packages)
    containers = {c.id for c in d.containers} | {c for item in d.goods_items for c in item.container_ids}
    return Claim(
        transport_document_reference=d.transport_document_reference,
        manifest_reference=d.manifest_reference,
        packages=packages,
        gross_mass=sum((item.gross_mass for item in d.goods_items), Decimal(0)),
        hs_headings=frozenset(item.hs_code[:4] for item in d.goods_items),
        container_ids=frozenset(containers),
        split=d.split_consignment,
        importer_id=d.importer.id,
    )


def process(ctx: NodeContext, d: GoodsDeclaration, registration_date: date, lookups: Lookups) -> ProcessedDeclaration:
    """Validate, value, compute duties and assign a lane; raise ValidationFailed with every issue."""
    issues = check(ctx, d, registration_date, lookups)
    if issues:
        raise ValidationFailed(issues)
    due_by_code = procedures()
    items: list[ItemResult] = []
    due: list[DutyBreakdown] = []
    for i, (item, (cv, fob)) in enumerate(zip(d.goods_items, item_values(ctx, d, registration_date))):
        try:
            breakdown = compute_duties(
                ctx.profile,
                ctx.schedule,
                DutyItemInput(item.hs_code, item.origin_country, cv, fob, item.duty_regime == "community"),
                registration_date,
            )
        except NoTariffLine:  # checked above; kept so that a race with a schedule reload is reported
            raise ValidationFailed([Issue(f"/goods_items/{i}/hs_code", "hs.no_tariff_line", {"code": item.hs_code, "date": registration_date})]) from None
        duties_due = due_by_code[item.procedure_code or d.procedure_code].duties_due
        items.append(ItemResult(cv, fob, duties_due, breakdown))
        if duties_due:
            due.append(breakdown)
    duties = combine(due) if due else _empty(ctx, registration_date)
    customs_value = sum((r.customs_value for r in items), Decimal(0))
    subject = AssessmentInput(
        declaration=d,
        country=ctx.country,
        currency=ctx.currency,
        registration_date=registration_date,
        items=tuple(ItemFacts(r.customs_value, r.duties.total if r.duties_due else Decimal(0)) for r in items),
        duty_total=duties.total,
        customs_value=customs_value,
        signals=signals(d, _cited_bill(d, lookups)),
    )
    assessment = ctx.assessor.assess(subject)
    return ProcessedDeclaration(d, registration_date, ctx.currency, tuple(items), customs_value, duties, assessment)


def _empty(ctx: NodeContext, on: date) -> DutyBreakdown:
    zero = round_money(Decimal(0), ctx.currency)
    return DutyBreakdown(country=ctx.country, date=on, currency=ctx.currency, customs_value=zero, lines=(), total=zero)
