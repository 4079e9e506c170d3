"""The demo trade generator: what it offers a customs user trying Avance without live data.

A year of realistic declarations for a Senegalese node, every one a valid goods declaration, with
stable traders, the region's goods and origins, the seasons of the trade and a known share of
fraud whose hidden duty is computed by Avance's own revenue calculator.
"""

from __future__ import annotations

import collections
import csv
import json
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from avance.declarations.model import GoodsDeclaration
from avance.declarations.processing import MemoryLookups, NodeContext, process
from avance.demo.generator import (
    FRAUD_KINDS,
    DemoConfig,
    DemoGenerator,
    GeneratedPayloadFacts,
    RevenueDuties,
    declared_facts,
    demo_rate_table,
    demo_rates,
    generate,
    load_catalog,
    true_facts,
    write_jsonl,
)
from avance.reference import shipped_offices
from avance.reference.containers import container_check_digit_ok
from avance.revenue.profiles import load_profile
from avance.revenue.schedule import Schedule
from avance.risk.profiles.rules import RuleAssessor, RuleSet
from tests.support import ROOT

N = 20_000
CATALOG = load_catalog()
CATALOG_CODES = {hs6 + "0000" for hs6 in CATALOG["goods"]}


@pytest.fixture(scope="module")
def generator() -> DemoGenerator:
    return DemoGenerator(DemoConfig())


@pytest.fixture(scope="module")
def year(generator):
    return list(generator.generate(N))


@pytest.fixture(scope="module")
def models(year):
    return [GoodsDeclaration.model_validate(decl.payload) for decl in year]


@pytest.fixture(scope="module")
def senegal():
    """A Senegalese node's lodging context on the demo exchange rates (no risk rules: values and
    duties only)."""
    profile = load_profile("SN")
    return NodeContext(
        country="SN",
        currency=profile.currency,
        profile=profile,
        schedule=Schedule.default("SN"),
        rates=demo_rate_table(profile.currency),
        offices=shipped_offices(),
        assessor=RuleAssessor(RuleSet()),
    )


@pytest.fixture(scope="module")
def lodged(year, models, senegal):
    """Every fraud of the year and one honest declaration in ten, lodged as a node lodges them."""
    chosen = [i for i, decl in enumerate(year) if decl.truth.fraud or i % 10 == 0]
    return [(year[i], process(senegal, models[i], year[i].registration_date, MemoryLookups())) for i in chosen]


def _importer_of(decl) -> str:
    return decl.payload["importer"]["id"]


# --- every declaration is one a declarant could lodge -------------------------------------------


def test_every_payload_is_a_valid_goods_declaration_with_consistent_totals(year, models, generator):
    offices = set(generator.offices())
    for decl, model in zip(year, models):
        items = model.goods_items
        assert model.goods_item_quantity == len(items)
        assert 1 <= len(items) <= 6
        assert [item.sequence for item in items] == list(range(1, len(items) + 1))
        assert model.invoice_amount == sum(item.invoice_amount for item in items)
        assert model.total_package_quantity == sum(p.quantity for item in items for p in item.packages)
        for item in items:
            assert item.hs_code in CATALOG_CODES
            assert item.invoice_amount > 0
            assert item.gross_mass >= item.net_mass > 0
        box_ids = {box.id for box in model.containers}
        assert len(box_ids) == len(model.containers), "a container is listed once"
        for box in model.containers:
            assert container_check_digit_ok(box.id), box.id
            assert box.seals
        for item in items:
            assert set(item.container_ids) <= box_ids
        if model.containers:
            assert model.transport_mode_code == 1  # Senegal is on the coast
        assert model.office_code in offices
        assert model.transport_document_reference and model.manifest_reference is None
        assert model.estimated_arrival.utcoffset() == timedelta(0)
        assert 1 <= (model.estimated_arrival.date() - decl.registration_date).days <= 25
    assert 2.5 <= sum(len(m.goods_items) for m in models) / len(models) <= 3.5


def test_payloads_survive_json_as_a_client_would_send_them(year):
    for decl in year[:: len(year) // 500]:
        text = json.dumps(decl.payload)
        assert GoodsDeclaration.model_validate_json(text).lrn == decl.payload["lrn"]
    assert year[0].payload["estimated_arrival"].endswith("+00:00")


def test_freight_and_insurance_are_realistic_for_the_incoterm(models):
    for model in models:
        invoice = model.invoice_amount
        assert Decimal("0.03") <= model.freight_amount / invoice <= Decimal("0.16")
        assert Decimal("0.002") <= model.insurance_amount / invoice <= Decimal("0.01")
    terms = collections.Counter(m.incoterm for m in models)
    assert (terms["FOB"] + terms["CFR"] + terms["CIF"]) / len(models) > 0.7


def test_modes_offices_and_lrns(year, models):
    modes = collections.Counter(m.transport_mode_code for m in models)
    assert modes[1] / len(models) > 0.8
    assert modes[4] > 0 and modes[3] > 0
    office_of_mode = {1: "SN-DKR-PORT", 4: "SN-DSS-AIR", 3: "SN-KDG-ROAD"}
    for model in models:
        assert model.office_code == office_of_mode[model.transport_mode_code]
    air_chapters = {item.hs_code[:2] for m in models if m.transport_mode_code == 4 for item in m.goods_items}
    assert air_chapters <= {"30", "33", "84", "85"}
    keys = [(m.declarant.id, m.lrn) for m in models]
    assert len(set(keys)) == len(keys)
    assert all(re.fullmatch(r"20\d\d-(DKR|DSS|KDG)-\d{6}", m.lrn) for m in models)
    dates = [decl.registration_date for decl in year]
    assert dates == sorted(dates)
    assert date(2025, 1, 1) <= dates[0] and dates[-1] <= date(2025, 12, 31)


# --- reproducible -------------------------------------------------------------------------------


def test_same_seed_gives_identical_payloads_and_another_seed_does_not():
    first = [json.dumps(d.payload) + repr(d.truth) for d in DemoGenerator(DemoConfig(seed=7)).generate(400)]
    again = [json.dumps(d.payload) + repr(d.truth) for d in DemoGenerator(DemoConfig(seed=7)).generate(400)]
    other = [json.dumps(d.payload) + repr(d.truth) for d in DemoGenerator(DemoConfig(seed=8)).generate(400)]
    assert first == again
    assert first != other
    assert len(set(first) & set(other)) == 0


# --- fraud at the configured rates, with its hidden duty ------------------------------------------


def test_each_fraud_kind_occurs_at_its_configured_rate(year):
    rates = DemoConfig().fraud_rates
    kinds = collections.Counter(decl.truth.kind for decl in year)
    for kind in FRAUD_KINDS:
        observed = kinds[kind] / len(year)
        assert abs(observed - rates[kind]) <= 0.25 * rates[kind], (kind, observed)
    assert kinds[None] + sum(kinds[k] for k in FRAUD_KINDS) == len(year)


def test_frauds_hide_duty_and_honest_declarations_hide_none(year):
    honest = [d for d in year if not d.truth.fraud]
    frauds = [d for d in year if d.truth.fraud]
    assert all(d.truth.kind is None and d.truth.hidden_duty == 0 for d in honest)
    assert all(d.truth.hidden_duty >= 0 for d in frauds)
    assert sum(d.truth.hidden_duty > 0 for d in frauds) / len(frauds) > 0.95


def test_the_truth_describes_the_affected_item(year):
    claims = set(CATALOG["countries"]["SN"]["false_origin_claims"])
    far = set(CATALOG["fraud"]["false_origin_true_origins"])
    for decl in year:
        truth = decl.truth
        item = decl.payload["goods_items"][truth.item_sequence - 1]
        declared = Decimal(item["invoice_amount"])
        if truth.kind is None:
            assert (truth.true_hs_code, truth.true_origin, truth.true_invoice_amount) == (
                item["hs_code"], item["origin_country"], declared)
        elif truth.kind == "undervaluation":
            assert (item["hs_code"], item["origin_country"]) == (truth.true_hs_code, truth.true_origin)
            assert Decimal("0.29") <= declared / truth.true_invoice_amount <= Decimal("0.71")
        elif truth.kind == "misclassification":
            assert item["origin_country"] == truth.true_origin and declared == truth.true_invoice_amount
            assert item["hs_code"][:6] in CATALOG["goods"][truth.true_hs_code[:6]]["misdeclared_as"]
        else:
            assert item["hs_code"] == truth.true_hs_code and declared == truth.true_invoice_amount
            assert truth.true_origin in far
            assert item["origin_country"] in claims and item["duty_regime"] == "community"


def test_lodging_accepts_the_containers_and_computes_the_values_the_ground_truth_uses(lodged):
    """The truth is graded against what a node computes: lodging accepts every generated
    container number (production ISO 6346 check), values every item as the generator's duty
    function does, and finds the declared duty the hidden duty is measured from."""
    duties = RevenueDuties()
    containers = 0
    for decl, processed in lodged:
        for box in decl.payload.get("containers", []):
            assert container_check_digit_ok(box["id"]), box["id"]
            containers += 1
        declared = declared_facts("SN", decl.payload, decl.registration_date)
        assert duties.values(declared) == [(r.customs_value, r.fob_value) for r in processed.items]
        assert duties(declared) == processed.duty_total
        if decl.truth.fraud:
            assert decl.truth.hidden_duty == duties(true_facts(declared, decl.truth)) - processed.duty_total
    assert containers > 1000
    assert sum(decl.truth.fraud for decl, _ in lodged) > 1500


def test_misclassification_and_false_origin_hide_the_duty_the_revenue_calculator_finds(lodged, senegal):
    checked = collections.Counter()
    for decl, processed in lodged:
        truth = decl.truth
        if truth.kind not in ("misclassification", "false_origin") or checked[truth.kind] >= 40:
            continue
        index = truth.item_sequence - 1
        item = processed.declaration.goods_items[index]
        declared = processed.items[index].duties
        true_declaration = processed.declaration.model_copy(
            update={
                "goods_items": [
                    other if other is not item else item.model_copy(
                        update={
                            "hs_code": truth.true_hs_code,
                            "origin_country": truth.true_origin,
                            "duty_regime": "general" if truth.kind == "false_origin" else item.duty_regime,
                        }
                    )
                    for other in processed.declaration.goods_items
                ]
            }
        )
        actual = process(senegal, true_declaration, decl.registration_date, MemoryLookups()).items[index].duties
        assert actual.total > declared.total
        assert truth.hidden_duty == actual.total - declared.total
        if truth.kind == "false_origin":
            # no import duty on the community claim, and no levies on "community" goods
            assert declared.line("DD").amount == 0
            assert set(actual.codes()) - set(declared.codes()) >= {"PC"}
        else:
            assert declared.line("DD").rate < actual.line("DD").rate or actual.line("EXCISE")
        checked[truth.kind] += 1
    assert checked["misclassification"] == 40 and checked["false_origin"] == 40


def test_frauds_only_use_codes_and_origins_that_pay():
    """With a duty function that taxes every code and origin alike, nobody misclassifies or
    falsifies origins: only undervaluation remains."""

    def flat(facts: GeneratedPayloadFacts) -> Decimal:
        return sum((item.invoice_amount / 10 for item in facts.items), Decimal(0))

    decls = list(DemoGenerator(DemoConfig(seed=3), duty_fn=flat).generate(3000))
    kinds = collections.Counter(d.truth.kind for d in decls)
    assert kinds["misclassification"] == kinds["false_origin"] == 0
    assert kinds["undervaluation"] > 100


# --- the region's trade ---------------------------------------------------------------------------


def test_hs_mix_covers_the_main_trades_with_plausible_origins(year):
    true_items = []
    for decl in year:
        for item in decl.payload["goods_items"]:
            if decl.truth.fraud and item["sequence"] == decl.truth.item_sequence:
                true_items.append((decl.truth.true_hs_code, decl.truth.true_origin))
            else:
                true_items.append((item["hs_code"], item["origin_country"]))
    groups = {
        "vehicles": ("8703", "8704"),
        "rice": ("1006",),
        "textiles": ("52", "55", "61", "62", "6309"),
        "medicines": ("30",),
        "electronics": ("8471", "8517", "8528", "8504"),
        "cement": ("2523",),
        "fuel": ("2710",),
    }
    for name, prefixes in groups.items():
        share = sum(code.startswith(prefixes) for code, _ in true_items) / len(true_items)
        assert share > 0.01, name
    vehicles = collections.Counter(o for code, o in true_items if code.startswith("8703"))
    assert set(vehicles) <= {"BE", "FR", "DE", "US", "JP", "KR", "CN", "IN", "AE"}
    assert sum(vehicles[o] for o in ("BE", "FR", "DE", "US")) / sum(vehicles.values()) > 0.5
    rice = collections.Counter(o for code, o in true_items if code.startswith("1006"))
    assert set(rice) <= {"TH", "IN", "VN", "PK", "BR"}


def test_invoice_unit_values_match_the_catalog(year):
    """USD per kg of the honest items stays within the catalog's range (wide margins for
    incoterm, price level and new/used factors)."""
    rates = demo_rate_table("XOF")
    for decl in year[::20]:
        if decl.truth.fraud:
            continue
        payload = decl.payload
        per_usd = rates.rate(payload["invoice_currency"], decl.registration_date) / rates.rate("USD", decl.registration_date)
        for item in payload["goods_items"]:
            spec = CATALOG["goods"][item["hs_code"][:6]]
            low, high = spec["usd_per_kg"]
            factors = list((spec.get("price") or {}).values()) + [1.0]
            usd_per_kg = float(Decimal(item["invoice_amount"]) * per_usd / Decimal(item["net_mass"]))
            assert low * min(factors) * 0.7 <= usd_per_kg <= high * max(factors) * 1.4, (item["hs_code"], usd_per_kg)


def test_invoice_currencies_are_mostly_usd_eur_cny(models):
    currencies = collections.Counter(m.invoice_currency for m in models)
    assert (currencies["USD"] + currencies["EUR"] + currencies["CNY"]) / len(models) > 0.8


# --- traders with stable behaviour ----------------------------------------------------------------


def test_trader_population_looks_like_a_west_african_register(generator):
    traders = generator.traders()
    importers, declarants = traders.importers, traders.declarants
    assert len(traders) == len(importers) + len(declarants)
    assert len(importers) == DemoConfig().importers and len(declarants) == DemoConfig().declarants
    assert {t.sector for t in importers} == set(CATALOG["sectors"])
    ids = [t.id for t in traders]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"SN\d{7}[A-Z]\d", tin) for tin in ids)
    assert len({t.name for t in traders}) == len(traders)
    assert all(t.usual_declarant in {d.id for d in declarants} for t in importers)
    offenders = [t for t in importers if t.repeat_offender]
    assert 0 < len(offenders) < 0.15 * len(importers)
    assert generator.active_importers(N) == len(importers)
    assert generator.active_importers(1000) < generator.active_importers(10_000) <= len(importers)


def test_repeat_offenders_defraud_far_more_often_than_the_population(generator, year):
    offenders = {t.id for t in generator.traders() if t.repeat_offender}
    theirs = [d for d in year if _importer_of(d) in offenders]
    overall = sum(d.truth.fraud for d in year) / len(year)
    offender_rate = sum(d.truth.fraud for d in theirs) / len(theirs)
    assert len(theirs) > 200
    assert offender_rate > 3 * overall
    honest = {t.id for t in generator.traders() if t.role == "importer" and t.fraud_propensity < 0.5}
    low = [d for d in year if _importer_of(d) in honest]
    assert sum(d.truth.fraud for d in low) / len(low) < overall / 2


def test_importers_keep_their_broker_their_goods_and_their_origins(generator, year):
    importers = {t.id: t for t in generator.traders() if t.role == "importer"}
    usual = same_goods = items = 0
    for decl in year:
        trader = importers[_importer_of(decl)]
        usual += decl.payload["declarant"]["id"] == trader.usual_declarant
        for item in decl.payload["goods_items"]:
            items += 1
            same_goods += item["hs_code"] in trader.preferred_hs_codes
    assert usual / len(year) > 0.8
    assert same_goods / items > 0.9
    per_importer = collections.Counter(_importer_of(d) for d in year)
    volumes = sorted(per_importer.values(), reverse=True)
    assert sum(volumes[: len(volumes) // 5]) > 0.5 * sum(volumes)  # a few big importers


# --- seasons -------------------------------------------------------------------------------------


def test_seasonality_peak_month_outweighs_trough_and_sundays_are_quiet(year):
    months = CATALOG["seasonality"]["months"]
    peak, trough = months.index(max(months)) + 1, months.index(min(months)) + 1
    counts = collections.Counter(d.registration_date.month for d in year)
    assert counts[peak] > 1.3 * counts[trough]
    weekdays = collections.Counter(d.registration_date.weekday() for d in year)
    assert weekdays[6] < weekdays[0] / 5


def test_rice_imports_build_up_before_ramadan_and_tabaski(year):
    rice = collections.Counter(
        d.registration_date.month for d in year if any(i["hs_code"].startswith("1006") for i in d.payload["goods_items"])
    )
    # 2025: Ramadan from 1 March, Tabaski on 6 June; stocks come in the two months before.
    assert rice[1] + rice[2] > 1.3 * (rice[8] + rice[9])


# --- files, other nodes and reference data ------------------------------------------------------


def test_write_jsonl_keeps_payloads_valid_and_truth_apart(tmp_path: Path):
    decls = generate(60, DemoConfig(seed=11))
    count = write_jsonl(decls, tmp_path / "declarations.jsonl", tmp_path / "truth.jsonl")
    assert count == 60
    payloads = (tmp_path / "declarations.jsonl").read_text(encoding="utf-8").splitlines()
    truths = [json.loads(line) for line in (tmp_path / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(payloads) == len(truths) == 60
    for line, truth, decl in zip(payloads, truths, decls):
        model = GoodsDeclaration.model_validate_json(line)
        assert (truth["lrn"], truth["declarant_id"]) == (model.lrn, model.declarant.id)
        assert truth["registration_date"] == decl.registration_date.isoformat()
        assert truth["kind"] == decl.truth.kind and Decimal(truth["hidden_duty"]) == decl.truth.hidden_duty
        assert "registration_date" not in json.loads(line)


@pytest.mark.parametrize("country", ["CI", "ML", "NG", "GH", "CM"])
def test_other_nodes_get_their_own_offices_traders_and_duties(country):
    generator = DemoGenerator(DemoConfig(country=country))
    offices = set(generator.offices())
    assert offices and all(code.startswith(country + "-") for code in offices)
    decls = list(generator.generate(600))
    for decl in decls:
        model = GoodsDeclaration.model_validate(decl.payload)
        assert model.office_code in offices
        assert model.importer.id.startswith(country)
        assert all(item.origin_country != country for item in model.goods_items if not decl.truth.fraud)
    assert any(d.truth.hidden_duty > 0 for d in decls)
    if country == "ML":  # landlocked: sea cargo is cleared at Bamako, by road
        assert {d.payload["transport_mode_code"] for d in decls} <= {3, 4}


def test_demo_rates_are_monthly_and_realistic():
    path = ROOT / "src" / "avance" / "demo" / "rates.csv"
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    months = {(c, r["valid_from"]) for r in rows for c in [r["currency"]]}
    currencies = {r["currency"] for r in rows}
    assert {"USD", "CNY", "JPY", "GBP", "INR", "TRY", "AED", "THB"} <= currencies
    for currency in currencies:
        for year_ in (2024, 2025, 2026):
            for month in range(1, 13):
                assert (currency, f"{year_}-{month:02d}-01") in months
    usd = [Decimal(r["rate"]) for r in rows if r["currency"] == "USD"]
    assert all(Decimal(540) <= rate <= Decimal(640) for rate in usd)
    table = demo_rate_table("NGN")  # cross rates for a floating-currency node
    assert Decimal(1200) < table.rate("USD", date(2025, 6, 1)) < Decimal(1800)
    assert Decimal(1500) < table.rate("EUR", date(2025, 6, 1)) < Decimal(2000)
    assert {r.currency for r in demo_rates("GHS")} >= {"USD", "EUR", "XOF", "NGN"}
    assert "GHS" not in {r.currency for r in demo_rates("GHS")}
