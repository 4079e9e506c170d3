"""The customs value and the FOB value of goods items, by the Incoterms 2020 rule.

Duties are charged on the CIF value: the price of the goods with the freight and insurance to the
border. What an invoice already includes depends on its Incoterm, so freight and insurance are
added where the price stops short of them and taken off the price (for the FOB value) where it
includes them. Lodging (``avance.declarations.processing``), the revenue at risk of the valuation
references (``avance.risk.valuation``) and the demo generator's ground truth (the duty a fraud
hides) must value goods exactly alike, or the demo would grade the risk engine against figures
the node never computes; they all use this module. Pure: no store, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple, Protocol

from avance.kit.money import round_money

if TYPE_CHECKING:  # only for annotations: the context module reads settings and the store
    from avance.revenue.context import ReferenceContext

FREIGHT_NOT_INCLUDED = frozenset({"EXW", "FCA", "FAS", "FOB"})
"""Incoterms 2020 whose price stops before the main carriage: the freight is added to it."""

INSURANCE_NOT_INCLUDED = frozenset({"EXW", "FCA", "FAS", "FOB", "CFR", "CPT"})
"""Incoterms 2020 whose price does not include the insurance of the main carriage: it is added."""


def includes_freight(incoterm: str) -> bool:
    """True when an invoice on ``incoterm`` already pays the freight to the place of destination."""
    return incoterm not in FREIGHT_NOT_INCLUDED


def includes_insurance(incoterm: str) -> bool:
    """True when an invoice on ``incoterm`` already pays the insurance (CIF, CIP, DAP, DPU, DDP)."""
    return incoterm not in INSURANCE_NOT_INCLUDED


def included_charges(incoterm: str, freight: Decimal, insurance: Decimal) -> Decimal:
    """The part of an invoice on ``incoterm`` that is freight and insurance, not goods: more
    than the invoice itself means the declared amounts cannot all be true."""
    included = insurance if includes_insurance(incoterm) else Decimal(0)
    if includes_freight(incoterm):
        included += freight
    return included


def share(amount: Decimal, item_invoice: Decimal, invoice_total: Decimal, items: int) -> Decimal:
    """One goods item's part of a declaration-level ``amount`` (freight, insurance): in
    proportion to its invoice amount, or equal parts of ``items`` when the invoice total is 0."""
    part = item_invoice / invoice_total if invoice_total > 0 else Decimal(1) / items
    return amount * part


class ItemValues(NamedTuple):
    """An item's values in the national currency, rounded to its minor unit."""

    customs_value: Decimal
    """CIF: the invoice amount with the freight and insurance the price does not include."""
    fob_value: Decimal
    """The invoice amount less the freight and insurance the price includes, never below 0."""


def item_value(
    incoterm: str, invoice_amount: Decimal, freight: Decimal, insurance: Decimal, rate: Decimal, currency: str
) -> ItemValues:
    """The values of one goods item, given its invoice amount and its shares of the freight and
    insurance (all in the invoice currency), converted at ``rate`` (national currency per unit)
    and rounded half away from zero to ``currency``'s minor unit."""
    cif = invoice_amount
    fob = invoice_amount
    if incoterm in FREIGHT_NOT_INCLUDED:
        cif += freight
    else:
        fob -= freight
    if incoterm in INSURANCE_NOT_INCLUDED:
        cif += insurance
    else:
        fob -= insurance
    return ItemValues(round_money(cif * rate, currency), round_money(max(fob, Decimal(0)) * rate, currency))


class InvoicedItem(Protocol):
    @property
    def invoice_amount(self) -> Decimal: ...


class Invoiced(Protocol):
    """What valuing needs of a goods declaration (``GoodsDeclaration`` has it)."""

    @property
    def incoterm(self) -> str: ...
    @property
    def invoice_currency(self) -> str: ...
    @property
    def invoice_amount(self) -> Decimal: ...
    @property
    def freight_amount(self) -> Decimal: ...
    @property
    def insurance_amount(self) -> Decimal: ...
    @property
    def goods_items(self) -> Sequence[InvoicedItem]: ...


def item_values(ctx: ReferenceContext, d: Invoiced, registration_date: date) -> list[ItemValues]:
    """(customs value, FOB value) of each goods item of ``d`` in the node's currency, at the
    exchange rate of the registration date (raises ``NoExchangeRate`` when there is none).

    Freight and insurance are shared out in proportion to the items' invoice amounts over the
    declared invoice total, and added only where the Incoterm's price does not include them.
    """
    rate = ctx.rates.rate(d.invoice_currency, registration_date)
    total = d.invoice_amount
    count = len(d.goods_items)
    return [
        item_value(
            d.incoterm,
            item.invoice_amount,
            share(d.freight_amount, item.invoice_amount, total, count),
            share(d.insurance_amount, item.invoice_amount, total, count),
            rate,
            ctx.currency,
        )
        for item in d.goods_items
    ]
