"""The lodging check: each goods item's unit value against its reference, and what an
under-valuation would cost the treasury.

* **Flag**: a declared unit value below the threshold (override minimum, else the robust lower
  bound ``exp(median_log - k * MAD)``, floored at the 10th percentile when the snapshot was built
  so), or above an override maximum.
* **Revenue at risk**: the duties due at the reference median minus the duties declared. The
  item is valued at the reference by the customs-value rule the lodging itself applies
  (``avance.revenue.customs_value``) and its duties computed by the same calculator, so that the
  figure an officer reads is one the node would have charged.

Every flag gives a sentence in French and English, stored with the decision: the numbers in it are
written as the reader writes them, by Babel (``avance.kit.formatting``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import TYPE_CHECKING

from babel.numbers import format_percent

from avance.declarations.assessment import AssessmentInput, Reason
from avance.kit import formatting
from avance.kit.i18n import LANGUAGES, t
from avance.kit.money import round_money
from avance.reference import procedures
from avance.reference.rates import NoExchangeRate
from avance.revenue.calculator import DutyItemInput, InvalidDutyInput, NoTariffLine, compute_duties
from avance.revenue.customs_value import item_values
from avance.risk.valuation.model import HS6_ORIGIN, OVERRIDE, UNIT_VALUE_QUANTUM, Reference, ValuationIndex, measure, plain

if TYPE_CHECKING:  # only for annotations: the context module reads settings and the store
    from avance.revenue.context import ReferenceContext

log = logging.getLogger(__name__)

_WIDE = Context(prec=60)
"""Enough digits for any ratio or unit value of declared amounts: quantize never overflows."""
_RATIO = Decimal("0.0001")
_PERCENT = Decimal("0.01")


@dataclass(frozen=True)
class ValuationFlag:
    """A goods item whose declared unit value is below its reference threshold (or above an
    override maximum), with the duties that under-valuation would hide."""

    reference: Reference
    unit: str
    quantity: Decimal
    declared_unit_value: Decimal
    threshold: Decimal
    ratio: Decimal  # declared / reference median
    reference_value: Decimal  # the item's customs value at the reference median
    revenue_at_risk: Decimal  # national currency, >= 0
    currency: str
    sequence: int = 0
    hs_code: str = ""
    origin: str = ""
    kind: str = "under"  # "under" or "over" (above an override maximum)
    declared_value: Decimal = Decimal(0)

    def reason(self) -> Reason:
        """A plain sentence in French and English."""
        with localcontext(_WIDE):
            return self._reason()

    def _reason(self) -> Reason:
        params = {
            "item": self.sequence,
            "hs": self.hs_code[:6],
            "origin": self.origin,
            "unit": self.unit,
            "level": self.reference.level,
            "declared": plain(self.declared_unit_value.quantize(UNIT_VALUE_QUANTUM, rounding=ROUND_HALF_UP)),
            "threshold": plain(self.threshold),
            "median": plain(self.reference.median),
            "ratio": plain(self.ratio),
            "revenue": plain(self.revenue_at_risk),
            "currency": self.currency,
        }
        return Reason(self.code, params, {lang: self.sentence(lang) for lang in LANGUAGES})

    @property
    def code(self) -> str:
        """Catalog key of the sentence."""
        if self.kind == "over":
            return "valuation.reason_over"
        override = self.reference.override
        if override is not None and override.minimum is not None:
            return "valuation.reason_minimum"
        return "valuation.reason_under"

    def sentence(self, lang: str) -> str:
        return t(
            self.code,
            lang,
            item=self.sequence,
            hs=self.hs_code[:6],
            origin=self.origin,
            declared=unit_value_text(self.declared_unit_value, lang),
            median=unit_value_text(self.reference.median, lang),
            threshold=unit_value_text(self.threshold, lang),
            unit=unit_label(self.unit, lang),
            currency=self.currency,
            percent=percent_text(self.ratio, lang),
            revenue=formatting.money(self.revenue_at_risk, self.currency, lang),
            basis=basis_text(self.reference, lang),
        )


def unit_value_text(value: Decimal, lang: str) -> str:
    """A unit value as the reader writes it, as precise as its size calls for: whole units from
    100 (``4 800``), hundredths from 1 (``12,50``), else four decimals (``0,0012``); rounded half
    up, as money is."""
    size = abs(value)
    digits = 0 if size >= 100 else 2 if size >= 1 else 4
    return formatting.number(value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP), lang, digits)


def percent_text(ratio: Decimal, lang: str) -> str:
    """A ratio as a whole percentage (``26 %``, ``26%``), rounded half up, its digits never
    grouped: the reasons stored since the first flags write ``1500%``, and keep doing so."""
    share = ratio.quantize(_PERCENT, rounding=ROUND_HALF_UP)  # Babel alone would round half to even
    return format_percent(share, locale=formatting.locale(lang), group_separator=False)


_UNIT_LABELS = frozenset({"KGM", "LTR", "NAR", "MTR", "MTK", "MTQ", "TNE", "PR", "GRM"})


def unit_label(unit: str, lang: str) -> str:
    """How a unit code reads in a sentence: ``kg``, ``l``, ``unit`` (other codes as they are)."""
    return t(f"valuation.unit_{unit.lower()}", lang) if unit in _UNIT_LABELS else unit


def basis_text(ref: Reference, lang: str) -> str:
    """Where a reference comes from, in a few words."""
    if ref.level == OVERRIDE:
        if ref.basis is None:
            return t("valuation.basis_override", lang, hs=ref.hs)
        return t("valuation.basis_override_with", lang, hs=ref.hs, basis=basis_text(ref.basis, lang))
    if ref.level == HS6_ORIGIN:
        return t("valuation.basis_hs6_origin", lang, n=ref.n, hs=ref.hs, origin=ref.origin)
    return t("valuation.basis_all_origins", lang, n=ref.n, hs=ref.hs)


def _duties_due(ctx: ReferenceContext, subject: AssessmentInput, position: int, customs_value: Decimal) -> Decimal | None:
    """The item's duties and taxes with its customs value replaced by ``customs_value`` (the
    freight and insurance in it unchanged), computed as the lodging computes them; None when
    they cannot be computed."""
    d = subject.declaration
    item = d.goods_items[position]
    procedure = procedures().get(item.procedure_code or d.procedure_code)
    if procedure is not None and not procedure.duties_due:
        return Decimal(0)
    currency = subject.currency
    try:
        declared_cv, declared_fob = item_values(ctx, d, subject.registration_date)[position]
        fob = round_money(max(declared_fob + (customs_value - declared_cv), Decimal(0)), currency)
        breakdown = compute_duties(
            ctx.profile,
            ctx.schedule,
            DutyItemInput(item.hs_code, item.origin_country, round_money(customs_value, currency), fob, item.duty_regime == "community"),
            subject.registration_date,
        )
    except (NoExchangeRate, NoTariffLine, InvalidDutyInput) as exc:
        log.warning("revenue at risk not computed for item %s of %s: %s", item.sequence, d.lrn, exc)
        return None
    return breakdown.total


def check_item(index: ValuationIndex, ctx: ReferenceContext, subject: AssessmentInput, position: int) -> ValuationFlag | None:
    """Compare goods item ``position`` (0-based) of an assessed declaration with its reference;
    a flag when its unit value is below the threshold or above an override maximum."""
    item = subject.declaration.goods_items[position]
    found = measure(item.net_mass, item.supplementary_quantity, item.supplementary_unit)
    if found is None:
        return None
    quantity, unit = found
    ref = index.reference(item.hs_code, item.origin_country, unit, subject.registration_date)
    if ref is None or not ref.sufficient or ref.median <= 0:
        return None
    with localcontext(_WIDE):
        return _flag(ctx, subject, position, ref, quantity, unit)


def _flag(ctx: ReferenceContext, subject: AssessmentInput, position: int, ref: Reference, quantity: Decimal, unit: str) -> ValuationFlag | None:
    item = subject.declaration.goods_items[position]
    facts = subject.items[position]
    declared = facts.customs_value / quantity
    if ref.low is not None and declared < ref.low:
        kind, threshold = "under", ref.low
    elif ref.level == OVERRIDE and ref.high is not None and declared > ref.high:
        kind, threshold = "over", ref.high
    else:
        return None
    currency = subject.currency
    reference_value = round_money(ref.median * quantity, currency)
    at_risk = Decimal(0)
    if kind == "under":
        due = _duties_due(ctx, subject, position, reference_value)
        if due is not None:
            at_risk = max(round_money(due - facts.duty_total, currency), round_money(Decimal(0), currency))
    return ValuationFlag(
        reference=ref,
        unit=unit,
        quantity=quantity,
        declared_unit_value=declared,
        threshold=threshold,
        ratio=(declared / ref.median).quantize(_RATIO, rounding=ROUND_HALF_UP),
        reference_value=reference_value,
        revenue_at_risk=at_risk,
        currency=currency,
        sequence=item.sequence,
        hs_code=item.hs_code,
        origin=item.origin_country,
        kind=kind,
        declared_value=facts.customs_value,
    )


def check_declaration(index: ValuationIndex, ctx: ReferenceContext, subject: AssessmentInput) -> list[ValuationFlag]:
    """The flags of every goods item of a declaration."""
    flags = []
    for position in range(len(subject.declaration.goods_items)):
        flag = check_item(index, ctx, subject, position)
        if flag is not None:
            flags.append(flag)
    return flags
