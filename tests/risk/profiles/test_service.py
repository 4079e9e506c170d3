"""Selectivity profiles kept in the node's database: versions an auditor can trace, YAML files
imported whole or not at all, and each profile's hit rate from the inspection results."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from avance.auth.model import SYSTEM, Principal, Role
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.kit.errors import Forbidden, NotFound, ValidationFailed
from avance.risk.profiles import service as profiles
from avance.risk.profiles.rules import RuleAssessor, load_rules, shipped_rules_text
from avance.store.engine import write
from avance.store.node_settings import node_settings
from avance.risk.profiles.tables import risk_profile_hits, risk_profile_versions, risk_profiles
from tests.support import declaration

ANALYST = Principal(7, "awa.ndiaye", Role.ANALYST)
ADMIN = Principal(1, "it.team", Role.ADMIN)
OFFICER = Principal(3, "moussa.officer", Role.OFFICER)
BROKER = Principal(9, "broker", Role.DECLARANT, "SN0012345A7")
OFFICER_ON_SITE = Principal(4, "officer", Role.OFFICER, offices=("SN-DKR-PORT",))  # officers act at their offices


def textiles(**change) -> dict:
    return {
        "id": "P-TEXT-CN-LOW",
        "description": {"fr": "Textiles chinois sous-évalués", "en": "Under-valued Chinese textiles"},
        "valid_from": "2026-01-01",
        "when": {"hs_prefix": ["61", "62"], "origin": ["CN"], "value_per_kg_below": 2000},
        "lane": "red",
        "score": 0.3,
    } | change


def count(conn, table) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_every_change_is_a_new_version_and_the_history_is_kept(node):
    with write(node.engine) as conn:
        created = profiles.put_profile(conn, textiles(author="somebody else", version=40), ANALYST)
        same = profiles.put_profile(conn, textiles(score="0.30"), ANALYST)  # the same figure, spelled otherwise
        updated = profiles.put_profile(conn, textiles(score=0.4), ADMIN)
        profiles.deactivate_profile(conn, "P-TEXT-CN-LOW", ANALYST)
        profiles.deactivate_profile(conn, "P-TEXT-CN-LOW", ANALYST)  # already inactive: nothing new
        reactivated = profiles.save_profile(conn, textiles(score=0.4, active=True), ANALYST)
    assert (created.outcome, created.rule.version, created.rule.author) == ("created", 1, "awa.ndiaye")
    assert (same.outcome, same.rule.version) == ("unchanged", 1)
    assert (updated.outcome, updated.rule.version, updated.rule.author) == ("updated", 2, "it.team")
    assert reactivated.version == 4 and reactivated.active
    with node.engine.connect() as conn:
        history = profiles.profile_history(conn, "P-TEXT-CN-LOW", OFFICER)
        record = profiles.get_record(conn, "P-TEXT-CN-LOW", OFFICER)
    assert [(v.version, v.change, v.author) for v in history] == [
        (1, "created", "awa.ndiaye"),
        (2, "updated", "it.team"),
        (3, "deactivated", "awa.ndiaye"),
        (4, "reactivated", "awa.ndiaye"),
    ]
    assert history[0].document["score"] == "0.3" and history[1].document["score"] == "0.4"
    assert history[2].document["active"] is False
    assert record.rule.version == 4 and record.created_at <= record.updated_at
    assert record.created_at.tzinfo is not None


def test_only_analysts_and_administrators_change_profiles_and_declarants_never_read_them(node):
    with write(node.engine) as conn:
        profiles.put_profile(conn, textiles(), ANALYST)
    with write(node.engine) as conn:
        for who in (OFFICER, BROKER):
            with pytest.raises(Forbidden):
                profiles.put_profile(conn, textiles(score=0.9), who)
            with pytest.raises(Forbidden):
                profiles.deactivate_profile(conn, "P-TEXT-CN-LOW", who)
            with pytest.raises(Forbidden):
                profiles.import_yaml(conn, shipped_rules_text(), who)
        with pytest.raises(Forbidden):
            profiles.list_profiles(conn, BROKER)
        with pytest.raises(Forbidden):
            profiles.get_profile(conn, "P-TEXT-CN-LOW", BROKER)
        assert "P-TEXT-CN-LOW" in [r.rule.id for r in profiles.list_profiles(conn, OFFICER)]
        with pytest.raises(NotFound):
            profiles.deactivate_profile(conn, "P-NOWHERE", ANALYST)
    with node.engine.connect() as conn:
        assert profiles.get_profile(conn, "P-TEXT-CN-LOW", OFFICER).score == Decimal("0.3")
        assert len(profiles.profile_history(conn, "P-TEXT-CN-LOW", OFFICER)) == 1


def test_the_node_assesses_with_the_active_profiles_and_the_shipped_ones_are_seeded_once(node):
    shipped = load_rules()
    with write(node.engine) as conn:
        assert profiles.seed_profiles(conn, shipped, "system") == 0  # the node was seeded when initialised
        conn.execute(risk_profile_versions.delete())
        conn.execute(risk_profiles.delete())
        conn.execute(node_settings.delete().where(node_settings.c.key == profiles.SETTINGS_KEY))
        assert profiles.seed_profiles(conn, shipped, "system") == len(shipped.rules)
        assert profiles.seed_profiles(conn, shipped, "system") == 0
        profiles.deactivate_profile(conn, "TOBACCO", ANALYST)
    with node.engine.connect() as conn:
        ruleset = profiles.load_ruleset(conn)
    assert ruleset.name == "profiles"
    assert ruleset.random_selection == shipped.random_selection and ruleset.default_lane == shipped.default_lane
    assert sorted(r.id for r in ruleset.rules) == sorted(r.id for r in shipped.rules if r.id != "TOBACCO")
    by_id = {r.id: r for r in ruleset.rules}
    for rule in shipped.rules:
        if rule.id != "TOBACCO":
            assert by_id[rule.id].content() == rule.content()
            assert by_id[rule.id].author == "system"


def test_an_import_stores_everything_or_nothing(node):
    before = _state(node)
    good = {"version": 1, "rules": [textiles(), textiles(id="P-SHOES", when={"hs_prefix": ["64"]})]}
    bad = {"version": 1, "rules": [textiles(), textiles(id="P-SHOES", when={"hs_prefix": ["64"], "origin": ["china"]}), textiles()]}
    with pytest.raises(ValidationFailed) as caught, write(node.engine) as conn:
        profiles.import_yaml(conn, yaml.safe_dump(bad), ANALYST)
    found = {(i.pointer, i.code) for i in caught.value.issues}
    assert ("/rules/1/when/origin/0", "schema.string_pattern_mismatch") in found
    assert ("/rules/2/id", "profiles.duplicate_id") in found
    assert _state(node) == before
    with write(node.engine) as conn:
        report = profiles.import_yaml(conn, yaml.safe_dump(good), ANALYST)
    assert report.created == ["P-TEXT-CN-LOW", "P-SHOES"] and not report.settings_changed


def test_replace_deactivates_the_profiles_the_file_does_not_name(node):
    with write(node.engine) as conn:
        report = profiles.import_yaml(
            conn, yaml.safe_dump({"random_selection": {"red": 0.05}, "rules": [textiles()]}), ANALYST, replace=True
        )
    assert report.created == ["P-TEXT-CN-LOW"] and len(report.deactivated) == len(load_rules().rules)
    assert report.settings_changed
    with node.engine.connect() as conn:
        ruleset = profiles.load_ruleset(conn)
    assert [r.id for r in ruleset.rules] == ["P-TEXT-CN-LOW"]
    assert ruleset.random_selection.red == Decimal("0.05") and ruleset.random_selection.yellow == 0


def test_export_then_import_gives_back_the_same_profiles(node, tmp_path):
    with write(node.engine) as conn:
        profiles.put_profile(conn, textiles(valid_to="2026-12-31", when=textiles()["when"] | {"unit_value_below": "12.5", "exporter": ["Guangzhou Textile Co"]}), ANALYST)
        profiles.deactivate_profile(conn, "MEDICINES", ANALYST)
        exported = profiles.export_yaml(conn)
        again = profiles.import_yaml(conn, exported, ADMIN)
    assert again.created == again.updated == again.deactivated == [] and len(again.unchanged) == 7
    assert "origin: [BE, DE, FR, NL, IT, ES]" in exported and "value_per_kg_below: 2000" in exported
    # the file loads as a criteria file too, and a fresh node importing it has the same profiles
    path = tmp_path / "exported.yaml"
    path.write_text(exported, encoding="utf-8")
    assert {r.id for r in load_rules(path).rules} == {r.id for r in load_rules().rules} | {"P-TEXT-CN-LOW"}
    from tests.support import make_node

    other = make_node(f"sqlite:///{(tmp_path / 'other.db').as_posix()}", tmp_path)
    try:
        with write(other.engine) as conn:
            report = profiles.import_yaml(conn, exported, ANALYST)  # over the shipped profiles it was seeded with
            assert (report.created, report.updated, len(report.unchanged)) == (["P-TEXT-CN-LOW"], ["MEDICINES"], 5)
            assert _content(profiles.export_yaml(conn)) == _content(exported)
            assert not profiles.get_profile(conn, "MEDICINES", ANALYST).active
    finally:
        other.engine.dispose()


def _content(text: str) -> dict:
    """A profile file without what the node sets (versions, authors)."""
    data = yaml.safe_load(text)
    data["rules"] = [{k: v for k, v in rule.items() if k not in ("version", "author")} for rule in data["rules"]]
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.sampled_from(["rules: [", "rules: 3", "- a\n- b", "rules:\n  - &a {id: X}\n  - *a", "rules: [{id: P-X}]", "[]", "", "rules:\n\t- x"]),
        st.builds(
            lambda field, value: yaml.safe_dump({"rules": [textiles(), textiles(id="P-2") | {field: value}]}),
            st.sampled_from(["id", "lane", "score", "valid_from", "when", "description", "active"]),
            st.one_of(st.text(max_size=10), st.integers(), st.floats(), st.none(), st.lists(st.integers(), max_size=2)),
        ),
    )
)
def test_malformed_profile_files_never_store_anything(sqlite_node, text):
    before = _state(sqlite_node)
    try:
        with write(sqlite_node.engine) as conn:
            profiles.import_yaml(conn, text, ANALYST)
    except ValidationFailed as exc:
        assert exc.issues and all(i.pointer == "" or i.pointer.startswith("/") for i in exc.issues)
        assert _state(sqlite_node) == before
    else:  # only a document that is a valid profile file gets here
        profiles.parse_ruleset(text)


def _state(node) -> tuple[int, int]:
    with node.engine.connect() as conn:
        return count(conn, risk_profiles), count(conn, risk_profile_versions)


def test_hit_rows_come_from_the_stored_reasons_of_a_decision():
    at = datetime(2026, 6, 1, 8, tzinfo=timezone.utc)
    reasons = [
        {"code": "reason.rule_hit", "params": {"rule": "P-A", "version": "3", "lane": "red"}},
        {"code": "reason.random", "params": {"lane": "red"}},
        {"code": "reason.rule_hit", "params": {"rule": "P-A", "version": "3", "lane": "red"}},
        {"code": "reason.rule_hit", "params": {"rule": "OLD-RULE", "lane": "yellow"}},  # stored before versions
    ]
    assert profiles.hit_rows(5, reasons, at=at) == [
        {"declaration_id": 5, "profile_id": "P-A", "profile_version": 3, "lane": "red", "at": at},
        {"declaration_id": 5, "profile_id": "OLD-RULE", "profile_version": 1, "lane": "yellow", "at": at},
    ]


# --- hit rates from inspection results ---------------------------------------------------------

CARS = {
    "version": 1,
    "random_selection": {"red": 0, "yellow": 0},
    "rules": [
        {"id": "P-CARS-FR", "description": {"fr": "Voitures françaises", "en": "French cars"}, "when": {"hs_prefix": ["8703"], "origin": ["FR"]}, "lane": "red"},
        {"id": "P-JP", "description": {"fr": "Origine Japon", "en": "Japanese origin"}, "when": {"origin": ["JP"]}, "lane": "yellow"},
        {"id": "P-EUR", "description": {"fr": "Factures en euros", "en": "Invoiced in euros"}, "when": {"invoice_currency": ["EUR"]}, "score": 0.1},
        {"id": "P-NEVER", "description": {"fr": "Tabac", "en": "Tobacco"}, "when": {"hs_prefix": ["2402"]}, "lane": "red"},
    ],
}


def _lodge_with_hits(node, conn, ctx, doc) -> int:
    lodging = service.lodge(conn, ctx, GoodsDeclaration.model_validate(doc), SYSTEM)
    row = service.get(conn, lodging.id, SYSTEM).row
    profiles.record_hits(conn, profiles.hit_rows(lodging.id, row["reasons"], at=row["lodged_at"]))
    return lodging.id


def _inspect(conn, declaration_id: int, extra_duty: str | None) -> None:
    service.record_arrival(conn, declaration_id, OFFICER_ON_SITE)
    fraud = extra_duty is not None
    service.record_inspection(
        conn, declaration_id, OFFICER_ON_SITE, fraud_found=fraud, fraud_kinds=["undervaluation"] if fraud else [], extra_duty=Decimal(extra_duty or 0), findings=None
    )


def test_each_profile_hit_rate_counts_the_frauds_found_among_the_declarations_it_sent_to_control(node):
    with write(node.engine) as conn:
        profiles.import_yaml(conn, yaml.safe_dump(CARS), ANALYST)
        ctx = dataclasses.replace(node.context, assessor=RuleAssessor(profiles.load_ruleset(conn)))
        french = [_lodge_with_hits(node, conn, ctx, declaration(lrn=f"FR-{n}")) for n in range(4)]
        japanese_doc = declaration(lrn="JP-1")
        japanese_doc["goods_items"][0]["origin_country"] = "JP"
        japanese = _lodge_with_hits(node, conn, ctx, japanese_doc)
        _inspect(conn, french[0], "150000")
        _inspect(conn, french[1], "250000")
        _inspect(conn, french[2], None)  # inspected, nothing found
        _inspect(conn, japanese, None)
        # recording the same hits again (a retried hook) counts them once
        row = service.get(conn, french[0], SYSTEM).row
        profiles.record_hits(conn, profiles.hit_rows(french[0], row["reasons"]))
    with node.engine.connect() as conn:
        stats = {s.profile_id: s for s in profiles.profile_stats(conn)}
        assert service.get(conn, french[3], SYSTEM).row["lane"] == "red"
    cars, jp, eur, never = stats["P-CARS-FR"], stats["P-JP"], stats["P-EUR"], stats["P-NEVER"]
    assert (cars.hits, cars.inspected, cars.frauds, cars.hit_rate, cars.extra_duty) == (4, 3, 2, Decimal("0.6667"), Decimal("400000"))
    assert cars.inspection_rate == Decimal("0.75") and cars.currency == "XOF"
    assert (jp.hits, jp.inspected, jp.frauds, jp.hit_rate) == (1, 1, 0, Decimal("0"))
    assert (eur.hits, eur.inspected, eur.frauds, eur.hit_rate, eur.extra_duty) == (5, 4, 2, Decimal("0.5"), Decimal("400000"))
    assert (never.hits, never.inspected, never.hit_rate, never.extra_duty) == (0, 0, None, Decimal(0))
    assert cars.to_dict()["hit_rate"] == "0.6667" and cars.to_dict()["extra_duty"] == "400000"


def test_hit_rates_cover_the_period_asked(node):
    with write(node.engine) as conn:
        profiles.import_yaml(conn, yaml.safe_dump(CARS), ANALYST)
        ctx = dataclasses.replace(node.context, assessor=RuleAssessor(profiles.load_ruleset(conn)))
        declaration_id = _lodge_with_hits(node, conn, ctx, declaration(lrn="FR-1"))
        hit_day = service.get(conn, declaration_id, SYSTEM).row["lodged_at"].date()
    with node.engine.connect() as conn:
        def hits(since: date | None, until: date | None) -> int:
            return {s.profile_id: s for s in profiles.profile_stats(conn, since=since, until=until)}["P-CARS-FR"].hits

        assert hits(hit_day, hit_day) == 1
        assert hits(None, hit_day - timedelta(days=1)) == 0
        assert hits(hit_day + timedelta(days=1), None) == 0


def test_declarations_lodged_before_hit_tracking_are_backfilled_once(node):
    with write(node.engine) as conn:
        profiles.import_yaml(conn, yaml.safe_dump(CARS), ANALYST)
        ctx = dataclasses.replace(node.context, assessor=RuleAssessor(profiles.load_ruleset(conn)))
        for n in range(3):
            service.lodge(conn, ctx, GoodsDeclaration.model_validate(declaration(lrn=f"OLD-{n}")), SYSTEM)
        conn.execute(risk_profile_hits.delete())  # as if lodged before hits were tracked
    with write(node.engine) as conn:
        assert profiles.backfill_hits(conn, batch=2) == 9  # P-CARS-FR, P-EUR and the shipped VEH-USED-EU on each car
        assert profiles.backfill_hits(conn) == 0
        rows = conn.execute(select(risk_profile_hits.c.profile_id, func.count()).group_by(risk_profile_hits.c.profile_id)).all()
    assert dict(rows) == {"P-CARS-FR": 3, "P-EUR": 3, "VEH-USED-EU": 3}


def test_every_profile_message_exists_in_french_and_english():
    import re
    from pathlib import Path

    from avance.kit.i18n import catalog

    used: set[str] = set()
    for name in ("service.py", "api.py", "cli.py", "rules.py"):
        text = re.sub(r'\bH\("[a-z_.]+"\)', "", (Path(profiles.__file__).parent / name).read_text(encoding="utf-8"))
        used |= set(re.findall(r'"(profiles\.[a-z_]+)"', text))
    used.discard("profiles.yaml")  # the export's file name
    assert {"profiles.not_found", "profiles.valid_to_before_from", "profiles.empty_band"} <= used
    assert used <= set(catalog("fr")) and used <= set(catalog("en")), used - set(catalog("en"))


def test_the_profiles_revision_moves_with_every_change_and_only_then(node):
    with node.engine.connect() as conn:
        start = profiles.profiles_revision(conn)
    with write(node.engine) as conn:
        profiles.put_profile(conn, textiles(), ANALYST)
        created = profiles.profiles_revision(conn)
        profiles.put_profile(conn, textiles(), ANALYST)  # unchanged
        assert profiles.profiles_revision(conn) == created
        profiles.import_yaml(conn, yaml.safe_dump({"random_selection": {"red": 0.2}, "rules": []}), ANALYST)
        settings_changed = profiles.profiles_revision(conn)
    assert len({start, created, settings_changed}) == 3
