"""The rules an officer relies on before any goods arrive: every error found at once, located."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from avance.declarations.model import GoodsDeclaration
from avance.declarations.processing import MemoryLookups, process
from avance.kit.errors import ValidationFailed
from avance.kit.validation import parse
from avance.revenue.customs_value import item_values
from tests.support import TODAY, declaration


def _codes(node, doc, lookups=None, on=TODAY):
    try:
        process(node.context, parse(GoodsDeclaration, doc), on, lookups or MemoryLookups())
    except ValidationFailed as exc:
        return {(i.pointer, i.code) for i in exc.issues}
    return set()


def test_a_clean_declaration_passes(sqlite_node):
    assert _codes(sqlite_node, declaration()) == set()


def test_every_business_error_is_reported_in_one_answer(sqlite_node):
    doc = declaration(goods_item_quantity=2, invoice_currency="ZZZ", office_code="SN-NOWHERE")
    item = doc["goods_items"][0]
    item.update(hs_code="9999990000", origin_country="XX", gross_mass="100", net_mass="200")
    doc["containers"][0]["id"] = "CSQU3054384"  # wrong check digit
    assert _codes(sqlite_node, doc) >= {
        ("/goods_item_quantity", "items.count_mismatch"),
        ("/invoice_currency", "currency.unknown"),
        ("/office_code", "office.unknown"),
        ("/goods_items/0/hs_code", "hs.unknown"),
        ("/goods_items/0/origin_country", "country.unknown"),
        ("/goods_items/0/gross_mass", "mass.gross_below_net"),
        ("/containers/0/id", "container.check_digit"),
        ("/goods_items/0/container_ids/0", "container.undeclared"),
    }


def test_structural_errors_carry_json_pointers():
    doc = declaration()
    doc["goods_items"][0]["net_mass"] = "-5"
    del doc["importer"]
    doc["surprise"] = 1
    with pytest.raises(ValidationFailed) as caught:
        parse(GoodsDeclaration, doc)
    found = {(i.pointer, i.code) for i in caught.value.issues}
    assert found == {
        ("/goods_items/0/net_mass", "schema.greater_than"),
        ("/importer", "schema.missing"),
        ("/surprise", "schema.extra_forbidden"),
    }


def test_an_arrival_date_far_from_registration_is_implausible(sqlite_node):
    late = declaration(estimated_arrival=f"{TODAY + timedelta(days=400)}T00:00:00+00:00")
    assert ("/estimated_arrival", "arrival.implausible") in _codes(sqlite_node, late)
    naive = declaration(estimated_arrival=f"{TODAY}T00:00:00")
    with pytest.raises(ValidationFailed) as caught:
        parse(GoodsDeclaration, naive)
    assert caught.value.issues[0].code == "schema.timezone_aware"


def test_invoice_total_must_equal_the_items(sqlite_node):
    assert ("/invoice_amount", "invoice.sum_mismatch") in _codes(sqlite_node, declaration(invoice_amount="11000"))


def test_a_currency_without_a_rate_on_the_registration_date_is_refused(sqlite_node):
    assert ("/invoice_currency", "currency.no_rate") in _codes(sqlite_node, declaration(invoice_currency="JPY"))


def test_an_hs_code_missing_from_the_national_schedule_is_refused(sqlite_node):
    doc = declaration()
    doc["goods_items"][0]["hs_code"] = "0101210000"  # a real HS 2022 code the example schedule lacks
    assert ("/goods_items/0/hs_code", "hs.no_tariff_line") in _codes(sqlite_node, doc)


def test_the_same_lrn_twice_from_one_declarant_is_a_duplicate(sqlite_node):
    lookups = MemoryLookups(lrns={("SN0012345A7", "2026-DKR-000001")})
    assert ("/lrn", "lrn.duplicate") in _codes(sqlite_node, declaration(), lookups)
    assert _codes(sqlite_node, declaration(declarant="SN0099999Z9"), lookups) == set()


def test_customs_value_adds_freight_and_insurance_only_when_the_incoterm_excludes_them(sqlite_node):
    ctx = sqlite_node.context
    fob = parse(GoodsDeclaration, declaration())
    cif = parse(GoodsDeclaration, declaration(incoterm="CIF", invoice_amount="13100", freight_amount="1000", insurance_amount="100"))
    cif = cif.model_copy(update={"goods_items": [cif.goods_items[0].model_copy(update={"invoice_amount": Decimal("13100")})]})
    # FOB 12,000 + 1,000 + 100 = 13,100 EUR; CIF 13,100 EUR already includes both: same customs value
    assert item_values(ctx, fob, TODAY) == [(Decimal("8593037"), Decimal("7871484"))]
    assert item_values(ctx, cif, TODAY) == [(Decimal("8593037"), Decimal("7871484"))]


def test_freight_and_insurance_are_shared_by_invoice_amount(sqlite_node):
    doc = declaration(invoice_amount="3000", goods_item_quantity=2, total_package_quantity=None)
    first = doc["goods_items"][0]
    first["invoice_amount"] = "1000"
    second = dict(first, sequence=2, invoice_amount="2000", container_ids=[])
    doc["goods_items"].append(second)
    d = parse(GoodsDeclaration, doc)
    values = item_values(sqlite_node.context, d, TODAY)
    # 1,000 + 1/3 x 1,100 = 1,366.667 EUR x 655.957 = 896,474.8 -> 896,475 XOF;
    # 2,000 + 2/3 x 1,100 = 2,733.333 EUR x 655.957 = 1,792,949.5 (1,792,949.47) -> 1,792,949 XOF
    assert [cv for cv, _ in values] == [Decimal("896475"), Decimal("1792949")]


def test_duties_are_suspended_under_warehousing(sqlite_node):
    processed = process(sqlite_node.context, parse(GoodsDeclaration, declaration(procedure_code="7100")), TODAY, MemoryLookups())
    assert processed.duty_total == 0
    assert processed.items[0].duties.total > 0  # still computed, for the guarantee
    assert processed.items[0].duties_due is False


def test_rates_in_force_on_the_registration_date_apply(sqlite_node):
    processed = process(sqlite_node.context, parse(GoodsDeclaration, declaration(invoice_currency="USD")), TODAY, MemoryLookups())
    assert processed.customs_value == Decimal(13100 * 600)
