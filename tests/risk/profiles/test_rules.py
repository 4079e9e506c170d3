"""Selectivity criteria as an analyst writes them: which declarations they send to which lane."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from avance.kit.datafiles import DataFileError
from avance.declarations.model import GoodsDeclaration
from avance.declarations.assessment import AssessmentInput, ItemFacts, Lane
from avance.kit.errors import ValidationFailed
from avance.risk.profiles.service import parse_rule
from avance.risk.policy.draw import Draw
from avance.risk.profiles.rules import Rule, RuleAssessor, RuleSet, load_rules, matching_rules
from tests.support import declaration

ON = date(2026, 6, 1)


def subject(doc: dict, values: list[str]) -> AssessmentInput:
    d = GoodsDeclaration.model_validate(doc)
    items = tuple(ItemFacts(Decimal(v), Decimal(0)) for v in values)
    return AssessmentInput(d, "SN", "XOF", ON, items, Decimal(0), sum((i.customs_value for i in items), Decimal(0)))


DRAW = Draw("test", b"selection secret of the rule tests")  # what a node's secret gives: a fixed key here


def criteria(tmp_path: Path, text: str) -> RuleAssessor:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return RuleAssessor(load_rules(path), draw=DRAW)


RULES = """
version: 1
name: test
random_selection: {red: 0, yellow: 0}
rules:
  - id: CARS-EU
    description: {fr: "Voitures d'Europe", en: "Cars from Europe"}
    when: {hs_prefix: ["8703"], origin: [FR, BE]}
    lane: yellow
    score: 0.1
  - id: CHEAP-CARS
    description: {fr: "Voitures bon marché", en: "Cheap cars"}
    when: {hs_prefix: ["8703"], value_per_kg_below: 1000}
    lane: red
    score: 0.2
  - id: OLD
    description: {fr: "Expiré", en: "Expired"}
    valid_to: 2025-12-31
    when: {origin: [FR]}
    lane: red
"""


def test_the_strictest_lane_wins_and_scores_add_up_exactly(tmp_path):
    assessor = criteria(tmp_path, RULES)
    # 8,593,037 XOF for 1,250 kg = 6,874 per kg: not cheap -> only CARS-EU
    assert assessor.assess(subject(declaration(), ["8593037"])).lane is Lane.YELLOW
    cheap = assessor.assess(subject(declaration(), ["1000000"]))  # 800 per kg
    assert cheap.lane is Lane.RED
    assert cheap.score == Decimal("0.3")  # 0.1 + 0.2 read as decimals, not 0.30000000000000004
    assert [r.params["rule"] for r in cheap.reasons] == ["CARS-EU", "CHEAP-CARS"]
    assert cheap.reasons[0].message("fr") == "CARS-EU : Voitures d'Europe"


def test_item_conditions_must_hold_on_the_same_item(tmp_path):
    doc = declaration(goods_item_quantity=2, invoice_amount="13000", total_package_quantity=None)
    car = doc["goods_items"][0]
    rice = dict(car, sequence=2, hs_code="1006300000", origin_country="FR", invoice_amount="1000", container_ids=[])
    car["origin_country"] = "JP"
    doc["goods_items"] = [car, rice]
    # a Japanese car and French rice: no item is a car from Europe
    outcome = criteria(tmp_path, RULES).assess(subject(doc, ["8593037", "700000"]))
    assert outcome.lane is Lane.GREEN
    assert outcome.reasons[0].code == "reason.no_hit"


def test_the_random_selection_is_reproducible_and_near_its_rate(tmp_path):
    assessor = criteria(tmp_path, "version: 1\nrandom_selection: {red: 0.05, yellow: 0.10}\nrules: []\n")
    lanes = [assessor.assess(subject(declaration(lrn=f"R-{n}"), ["1"])).lane for n in range(2000)]
    again = [assessor.assess(subject(declaration(lrn=f"R-{n}"), ["1"])).lane for n in range(2000)]
    assert lanes == again
    assert 60 <= lanes.count(Lane.RED) <= 140 and 140 <= lanes.count(Lane.YELLOW) <= 260


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [{id: X, description: {fr: a, en: b}, when: {}}]", "a rule needs at least one condition"),
        ("rules: [{id: X, description: {fr: a}, when: {origin: [FR]}}]", "rules/0/description/en"),
        ("rules: [{id: X, description: {fr: a, en: b}, when: {origin: [FR]}, lane: purple}]", "rules/0/lane"),
        ("rules: [{id: X, description: {fr: a, en: b}, when: {origin: [FR]}, score: 1.5}]", "rules/0/score"),
        ("rules: [{id: X, description: {fr: a, en: b}, valid_from: 2026-02-30, when: {origin: [FR]}}]", "is not a valid date"),
        ("rules: [", "not valid YAML"),
    ],
)
def test_a_broken_criteria_file_names_the_field(tmp_path, text, expected):
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        load_rules(path)
    assert expected in str(caught.value) and str(path) in str(caught.value)


def test_the_shipped_criteria_load():
    assert load_rules().rules


# --- structured criteria on every field an analyst targets ------------------------------------


def profile(when: dict, **fields) -> Rule:
    return Rule.model_validate({"id": "P-TEST", "description": {"fr": "Essai", "en": "Test"}, "when": when, "lane": "red", **fields})


def car(**overrides) -> dict:
    """The support declaration (a used French car, FOB, in EUR) with item fields overridden."""
    doc = declaration()
    doc["goods_items"][0].update(overrides.pop("item", {}))
    doc.update(overrides)
    return doc


EXPORTER_IN_DE = {"name": "Autohaus Köln", "country": "DE"}
WITH_UNITS = {"supplementary_quantity": "2", "supplementary_unit": "NMB"}

# (condition, declaration, customs value of its item, does the profile hit?)
CRITERIA = [
    ({"exporter": ["  voitures d'occasion   LYON "]}, car(), "8593037", True),  # names compared without case or spacing
    ({"exporter": ["voitures d'occasion lyon"]}, car(exporter=EXPORTER_IN_DE), "8593037", False),
    ({"exporter": ["DE123456789"]}, car(exporter=EXPORTER_IN_DE | {"id": "DE123456789"}), "8593037", True),
    ({"export_country": ["FR"]}, car(), "8593037", True),
    ({"export_country": ["FR"]}, car(exporter=EXPORTER_IN_DE), "8593037", False),
    ({"export_country": ["FR"]}, car(exporter={"name": "X"}, consignor={"name": "Y", "country": "FR"}), "8593037", True),
    ({"export_country": ["FR"]}, car(exporter={"name": "X"}), "8593037", False),
    ({"incoterm": ["FOB", "EXW"]}, car(), "8593037", True),
    ({"incoterm": ["FOB", "EXW"]}, car(incoterm="CIF"), "8593037", False),
    ({"transport_mode": [1]}, car(), "8593037", True),
    ({"transport_mode": [1]}, car(transport_mode_code=4), "8593037", False),
    ({"invoice_currency": ["EUR"]}, car(), "8593037", True),
    ({"invoice_currency": ["USD"]}, car(), "8593037", False),
    ({"item_procedure": ["4000"]}, car(), "8593037", True),  # the item takes the declaration's procedure
    ({"item_procedure": ["4000"]}, car(item={"procedure_code": "4071"}), "8593037", False),
    ({"supplementary_unit": ["NMB"]}, car(), "8593037", False),
    ({"supplementary_unit": ["NMB"]}, car(item=WITH_UNITS), "8593037", True),
    ({"unit_value_below": 5000000}, car(item=WITH_UNITS), "8593037", True),  # 4,296,518.5 per car
    ({"unit_value_below": 4000000}, car(item=WITH_UNITS), "8593037", False),
    ({"unit_value_above": 4000000}, car(item=WITH_UNITS), "8593037", True),
    ({"unit_value_above": 1}, car(), "8593037", False),  # no supplementary quantity: no unit value
    ({"unit_value_above": 1}, car(item={"supplementary_quantity": "0", "supplementary_unit": "NMB"}), "8593037", False),
    ({"value_per_kg_above": 5000}, car(), "8593037", True),  # 6,874 per kg
    ({"value_per_kg_above": 7000}, car(), "8593037", False),
    ({"value_per_kg_below": 7000, "value_per_kg_above": 5000}, car(), "8593037", True),
    ({"customs_value_above": 8000000}, car(), "8593037", True),
    ({"customs_value_above": 9000000}, car(), "8593037", False),
    ({"hs_code": ["8703231000", "8703239000"]}, car(), "8593037", True),
    ({"hs_code": ["8703239000"]}, car(), "8593037", False),
    ({"not_origin": ["CN", "JP"]}, car(), "8593037", True),
    ({"not_origin": ["FR"]}, car(), "8593037", False),
    ({"hs_prefix": ["87"], "not_hs_prefix": ["870324"]}, car(), "8593037", True),
    ({"hs_prefix": ["87"], "not_hs_prefix": ["870323"]}, car(), "8593037", False),
    ({"not_importer": ["SN0098765B2"], "origin": ["FR"]}, car(), "8593037", False),
    ({"not_importer": ["SN0011111A1"], "origin": ["FR"]}, car(), "8593037", True),
    ({"office": ["SN-DKR-PORT"], "procedure": ["4000"], "declarant": ["SN0012345A7"], "importer": ["SN0098765B2"]}, car(), "8593037", True),
]


@pytest.mark.parametrize(("when", "doc", "value", "expected"), CRITERIA)
def test_a_profile_tests_the_declaration_and_item_fields_an_analyst_targets(when, doc, value, expected):
    assert profile(when).hits(subject(doc, [value])) is expected


def test_the_duty_of_the_declaration_is_a_criterion():
    d = GoodsDeclaration.model_validate(declaration())
    facts = (ItemFacts(Decimal("8593037"), Decimal("4000000")),)
    heavy = AssessmentInput(d, "SN", "XOF", ON, facts, Decimal("4000000"), Decimal("8593037"))
    assert profile({"duty_total_above": 3999999}).hits(heavy)
    assert not profile({"duty_total_above": 4000000}).hits(heavy)


def test_a_profile_applies_only_while_active_and_within_its_validity_dates():
    rule = profile({"origin": ["FR"]}, valid_from="2026-06-01", valid_to="2026-06-30")
    for day, expected in [(date(2026, 5, 31), False), (date(2026, 6, 1), True), (date(2026, 6, 30), True), (date(2026, 7, 1), False)]:
        s = subject(declaration(), ["8593037"])
        assert rule.hits(AssessmentInput(s.declaration, "SN", "XOF", day, s.items, s.duty_total, s.customs_value)) is expected, day
    assert not rule.model_copy(update={"active": False}).hits(subject(declaration(), ["8593037"]))


def test_matching_rules_gives_the_active_profiles_in_force_that_hit():
    rules = RuleSet(
        rules=[
            profile({"origin": ["FR"]}, id="P-FR"),
            profile({"origin": ["JP"]}, id="P-JP"),
            profile({"origin": ["FR"]}, id="P-OLD", valid_to="2025-12-31"),
            profile({"origin": ["FR"]}, id="P-OFF", active=False),
            profile({"hs_prefix": ["8703"]}, id="P-CARS", lane=None, score="0.25", version=3),
        ]
    )
    s = subject(declaration(), ["8593037"])
    assert [r.id for r in matching_rules(rules, s)] == ["P-FR", "P-CARS"]
    outcome = RuleAssessor(rules).assess(s)
    assert outcome.lane is Lane.RED and outcome.score == Decimal("0.25")
    assert [(r.params["rule"], r.params["version"], r.params["lane"]) for r in outcome.reasons] == [("P-FR", 1, "red"), ("P-CARS", 3, "green")]


@pytest.mark.parametrize(
    ("change", "pointer", "code"),
    [
        ({"valid_from": "2026-06-01", "valid_to": "2026-05-31"}, "/valid_to", "profiles.valid_to_before_from"),
        ({"lane": None}, "/lane", "profiles.no_action"),
        ({"when": {"value_per_kg_below": 100, "value_per_kg_above": 100}}, "/when/value_per_kg_below", "profiles.empty_band"),
        ({"when": {"unit_value_below": 5, "unit_value_above": 50}}, "/when/unit_value_below", "profiles.empty_band"),
        ({"when": {}}, "/when", "profiles.no_condition"),
        ({"when": {"origin": []}}, "/when/origin", "schema.too_short"),
        ({"when": {"colour": ["red"]}}, "/when/colour", "schema.extra_forbidden"),
        ({"when": {"incoterm": ["XYZ"]}}, "/when/incoterm/0", "schema.literal_error"),
        ({"when": {"transport_mode": [6]}}, "/when/transport_mode/0", "schema.literal_error"),
        ({"when": {"hs_code": ["8703"]}}, "/when/hs_code/0", "schema.string_pattern_mismatch"),
        ({"when": {"value_per_kg_below": -1}}, "/when/value_per_kg_below", "schema.greater_than_equal"),
        ({"when": {"supplementary_unit": ["pieces"]}}, "/when/supplementary_unit/0", "schema.string_pattern_mismatch"),
        ({"description": {"fr": "   ", "en": "Test"}}, "/description/fr", "schema.string_too_short"),
        ({"description": {"fr": "Essai"}}, "/description/en", "schema.missing"),
        ({"id": "p-lower"}, "/id", "schema.string_pattern_mismatch"),
        ({"score": 1.5}, "/score", "schema.less_than_equal"),
        ({"lane": "purple"}, "/lane", "schema.enum"),
    ],
)
def test_a_bad_profile_is_refused_with_the_field_named(change, pointer, code):
    document = {"id": "P-TEST", "description": {"fr": "Essai", "en": "Test"}, "when": {"origin": ["FR"]}, "lane": "red"} | change
    with pytest.raises(ValidationFailed) as caught:
        parse_rule(document)
    assert (pointer, code) in [(i.pointer, i.code) for i in caught.value.issues]


def test_profiles_read_twice_are_equal_and_survive_a_trip_to_a_worker_process():
    import pickle

    rules = load_rules()
    assert load_rules() == rules
    travelled = pickle.loads(pickle.dumps(RuleAssessor(rules, draw=DRAW)))
    s = subject(declaration(), ["1000000"])  # 800 per kg: a cheap French car
    assert travelled.rules == rules
    assert [r.params["rule"] for r in travelled.assess(s).reasons] == [r.params["rule"] for r in RuleAssessor(rules, draw=DRAW).assess(s).reasons]
    assert "VEH-LOW-VALUE" in [r.id for r in matching_rules(travelled.rules, s)]
