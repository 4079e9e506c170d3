"""The customs value a declarant's goods are taxed on: the invoice price brought to CIF by the
Incoterm rule, and the FOB value some levies use, in the national currency."""

from __future__ import annotations

from decimal import Decimal
from typing import get_args

import pytest

from avance.declarations.model import Incoterm
from avance.revenue.customs_value import (
    included_charges,
    includes_freight,
    includes_insurance,
    item_value,
    share,
)

INVOICE, FREIGHT, INSURANCE = Decimal("10000.00"), Decimal("1000.00"), Decimal("100.00")
EUR_XOF = Decimal("655.957")

# The three groups of Incoterms 2020, by what the seller's price already pays for.
GOODS_ONLY = ("EXW", "FCA", "FAS", "FOB")  # the buyer pays the main carriage and its insurance
WITH_FREIGHT = ("CFR", "CPT")  # carriage paid, insurance not
WITH_BOTH = ("CIF", "CIP", "DAP", "DPU", "DDP")  # carriage and insurance paid


def test_the_three_groups_cover_every_incoterm_a_declaration_may_carry():
    assert sorted(GOODS_ONLY + WITH_FREIGHT + WITH_BOTH) == sorted(get_args(Incoterm))


@pytest.mark.parametrize("incoterm", GOODS_ONLY)
def test_a_price_for_the_goods_alone_gets_freight_and_insurance_added(incoterm):
    assert not includes_freight(incoterm) and not includes_insurance(incoterm)
    assert included_charges(incoterm, FREIGHT, INSURANCE) == 0
    # CIF 11,100 EUR and FOB 10,000 EUR at 655.957
    assert item_value(incoterm, INVOICE, FREIGHT, INSURANCE, EUR_XOF, "XOF") == (Decimal("7281123"), Decimal("6559570"))


@pytest.mark.parametrize("incoterm", WITH_FREIGHT)
def test_a_carriage_paid_price_gets_only_the_insurance_added(incoterm):
    assert includes_freight(incoterm) and not includes_insurance(incoterm)
    assert included_charges(incoterm, FREIGHT, INSURANCE) == FREIGHT
    # CIF 10,100 EUR; FOB 9,000 EUR
    assert item_value(incoterm, INVOICE, FREIGHT, INSURANCE, EUR_XOF, "XOF") == (Decimal("6625166"), Decimal("5903613"))


@pytest.mark.parametrize("incoterm", WITH_BOTH)
def test_a_price_with_carriage_and_insurance_is_the_customs_value(incoterm):
    assert includes_freight(incoterm) and includes_insurance(incoterm)
    assert included_charges(incoterm, FREIGHT, INSURANCE) == FREIGHT + INSURANCE
    # CIF 10,000 EUR; FOB 8,900 EUR
    assert item_value(incoterm, INVOICE, FREIGHT, INSURANCE, EUR_XOF, "XOF") == (Decimal("6559570"), Decimal("5838017"))


def test_the_same_shipment_on_fob_or_cif_terms_has_the_same_customs_value():
    fob = item_value("FOB", Decimal("12000"), FREIGHT, INSURANCE, EUR_XOF, "XOF")
    cif = item_value("CIF", Decimal("13100"), FREIGHT, INSURANCE, EUR_XOF, "XOF")
    assert fob == cif == (Decimal("8593037"), Decimal("7871484"))
    assert fob.customs_value == Decimal("8593037") and fob.fob_value == Decimal("7871484")


def test_the_fob_value_never_goes_below_zero():
    # charges above the invoice: lodging refuses this (valuation.fob_negative); the value stays 0
    assert included_charges("CIF", Decimal(900), Decimal(200)) > Decimal(1000)
    assert item_value("CIF", Decimal(1000), Decimal(900), Decimal(200), EUR_XOF, "XOF").fob_value == 0


def test_values_are_rounded_half_away_from_zero_to_the_national_currency():
    # 1.5 XOF -> 2; 2.5 -> 3 (not banker's rounding)
    assert item_value("CIF", Decimal("1.5"), Decimal(0), Decimal(0), Decimal(1), "XOF").customs_value == Decimal(2)
    assert item_value("CIF", Decimal("2.5"), Decimal(0), Decimal(0), Decimal(1), "XOF").customs_value == Decimal(3)
    # naira have kobo: two decimals kept
    values = item_value("FOB", Decimal("100.00"), Decimal("10.00"), Decimal("1.00"), Decimal("1612.3456"), "NGN")
    assert values == (Decimal("178970.36"), Decimal("161234.56"))


def test_freight_and_insurance_are_shared_by_invoice_amount():
    # 1,100 EUR of freight on items invoiced 1,000 and 2,000 EUR: one third and two thirds
    assert share(Decimal(1100), Decimal(1000), Decimal(3000), 2).quantize(Decimal("0.001")) == Decimal("366.667")
    assert share(Decimal(1100), Decimal(2000), Decimal(3000), 2).quantize(Decimal("0.001")) == Decimal("733.333")
    # an invoice total of 0 (free samples): equal parts
    assert share(Decimal(900), Decimal(0), Decimal(0), 3) == Decimal(300)
