"""The analysts' pages over real HTTP, signed in with a password as an analyst would: profiles
created, changed and deactivated through forms (errors beside their fields, in French, with what
was typed kept), manual valuation bounds set and lifted, the model and policy explained, and the
read-only pages of partners, transits and mirror control; each refused to the roles that may not."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import html

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from avance.auth.model import SYSTEM, Principal
from avance.auth.sessions import set_password
from avance.risk.profiles import service as profiles
from avance.risk.valuation import service as valuation
from avance.exchange import partners
from avance.store.engine import write
from tests.support import LiveApi, make_node, serve

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    tmp: Path = tmp_path_factory.mktemp("analyst-pages")
    node = make_node(f"sqlite:///{(tmp / 'avance.db').as_posix()}", tmp)
    try:
        for live in serve(node):
            with node.engine.begin() as conn:
                for name in ("analyst", "officer", "admin", "broker"):
                    set_password(conn, name, PASSWORD)
            yield live
    finally:
        node.engine.dispose()


def signed_in(site: LiveApi, name: str, lang: str = "fr") -> httpx.Client:
    client = httpx.Client(base_url=site.url, headers={"Accept-Language": lang}, timeout=30)
    answer = client.post("/signin", data={"username": name, "password": PASSWORD})
    assert answer.status_code == 303, answer.text
    return client


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def field_error(page: str, name: str) -> str:
    tree = html.fromstring(page)
    field = tree.get_element_by_id(name)
    assert field.get("aria-invalid") == "true", f"{name} is not marked invalid"
    described = field.get("aria-describedby", "").split()
    assert f"{name}-error" in described
    return tree.get_element_by_id(f"{name}-error").text_content().strip()


def typed(page: str, name: str) -> str:
    element = html.fromstring(page).get_element_by_id(name)
    return element.text_content() if element.tag == "textarea" else element.get("value", "")


PROFILE = {
    "id": "P-TEXT-CN-LOW",
    "description_fr": "Textiles chinois sous-évalués",
    "description_en": "Under-valued Chinese textiles",
    "lane": "red",
    "score": "0,3",
    "active": "on",
    "when_hs_prefix": "61, 62",
    "when_origin": "cn",
    "when_value_per_kg_below": "2 000",
}


def test_the_analysis_home_leads_to_every_part_and_is_refused_to_officers_and_brokers(site: LiveApi) -> None:
    page = signed_in(site, "analyst").get("/analysis")
    assert page.status_code == 200
    links = {a.get("href") for a in html.fromstring(page.text).iter("a")}
    assert {"/analysis/profiles", "/analysis/valuation", "/analysis/model", "/analysis/exchange", "/analysis/transits", "/analysis/mirror-control", "/dashboards"} <= links
    assert signed_in(site, "officer").get("/analysis").status_code == 403
    assert signed_in(site, "broker").get("/analysis/profiles").status_code == 403
    assert signed_in(site, "broker").get("/analysis/valuation").status_code == 403


def test_a_profile_created_through_the_form_is_stored_with_its_author_and_listed(site: LiveApi) -> None:
    analyst = signed_in(site, "analyst")
    form = analyst.get("/analysis/profiles/new")
    answer = analyst.post("/analysis/profiles/new", data={**PROFILE, "csrf": csrf(form.text)})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/analysis/profiles/P-TEXT-CN-LOW"
    with site.node.engine.connect() as conn:
        rule = profiles.get_profile(conn, "P-TEXT-CN-LOW", _system(conn))
    assert rule.version == 1 and rule.author == "analyst"
    assert rule.when.hs_prefix == ["61", "62"] and rule.when.origin == ["CN"]
    assert str(rule.when.value_per_kg_below) == "2000" and str(rule.score) == "0.3" and rule.lane.value == "red"
    listing = analyst.get("/analysis/profiles")
    row = html.fromstring(listing.text).xpath('//tr[@data-profile="P-TEXT-CN-LOW"]')
    assert row and "Textiles chinois sous-évalués" in row[0].text_content()
    # the same code again is refused beside the code, not overwritten
    again = analyst.post("/analysis/profiles/new", data={**PROFILE, "csrf": csrf(form.text)})
    assert again.status_code == 422
    assert "existe déjà" in field_error(again.text, "id")


def test_bad_profile_input_shows_every_error_beside_its_field_in_french_and_keeps_what_was_typed(site: LiveApi) -> None:
    analyst = signed_in(site, "analyst")
    token = csrf(analyst.get("/analysis/profiles/new").text)
    bad = {
        "id": "mauvais code",
        "description_fr": "Essai",
        "description_en": "Trial",
        "score": "2",
        "valid_from": "2026-05-01",
        "valid_to": "2026-04-01",
        "when_hs_prefix": "6x",
        "csrf": token,
    }
    answer = analyst.post("/analysis/profiles/new", data=bad)
    assert answer.status_code == 422
    assert "Format invalide" in field_error(answer.text, "id")
    assert "au plus 1" in field_error(answer.text, "score")
    assert field_error(answer.text, "when_hs_prefix")
    assert typed(answer.text, "id") == "mauvais code"
    assert typed(answer.text, "when_hs_prefix") == "6x"
    assert typed(answer.text, "valid_to") == "2026-04-01"
    # a profile without any condition: the error sits with the conditions
    empty = analyst.post("/analysis/profiles/new", data={"id": "P-EMPTY", "description_fr": "a", "description_en": "b", "lane": "red", "csrf": token})
    assert empty.status_code == 422
    assert "au moins une condition" in html.fromstring(empty.text).get_element_by_id("when-error").text_content()
    with site.node.engine.connect() as conn:
        assert not [r for r in profiles.list_profiles(conn, _system(conn)) if r.rule.id in ("MAUVAIS", "P-EMPTY")]


def test_changing_then_deactivating_a_profile_saves_new_versions_shown_on_its_page(site: LiveApi) -> None:
    analyst = signed_in(site, "analyst")
    token = csrf(analyst.get("/analysis/profiles/new").text)
    analyst.post("/analysis/profiles/new", data={**PROFILE, "id": "P-EDIT", "csrf": token})
    form = analyst.get("/analysis/profiles/P-EDIT/edit")
    assert typed(form.text, "when_hs_prefix") == "61, 62"
    changed = analyst.post("/analysis/profiles/P-EDIT/edit", data={**PROFILE, "id": "P-EDIT", "lane": "yellow", "csrf": csrf(form.text)})
    assert changed.status_code == 303
    page = analyst.get("/analysis/profiles/P-EDIT")
    deactivated = analyst.post("/analysis/profiles/P-EDIT/deactivate", data={"csrf": csrf(page.text)})
    assert deactivated.status_code == 303
    page = analyst.get("/analysis/profiles/P-EDIT")
    tree = html.fromstring(page.text)
    assert tree.get_element_by_id("profile-version").text_content() == "3"
    assert tree.get_element_by_id("profile-state").text_content() == "inactif"
    assert len(tree.xpath('//*[@data-test="profile-version"]')) == 3
    with site.node.engine.connect() as conn:
        rule = profiles.get_profile(conn, "P-EDIT", _system(conn))
    assert rule.lane.value == "yellow" and not rule.active
    # a post without the session's form token changes nothing
    assert analyst.post("/analysis/profiles/P-EDIT/edit", data={**PROFILE, "id": "P-EDIT", "csrf": "forged"}).status_code == 403
    # an officer reads profiles but may not change them
    officer = signed_in(site, "officer")
    assert officer.get("/analysis/profiles/P-EDIT").status_code == 200
    assert 'id="profile-edit"' not in officer.get("/analysis/profiles/P-EDIT").text
    assert officer.get("/analysis/profiles/P-EDIT/edit").status_code == 403


def test_a_manual_bound_is_checked_set_and_lifted(site: LiveApi) -> None:
    analyst = signed_in(site, "analyst")
    form = analyst.get("/analysis/valuation/bounds/new?hs=8703")
    assert typed(form.text, "hs") == "8703"
    token = csrf(form.text)
    bad = analyst.post("/analysis/valuation/bounds/new", data={"hs": "8703", "origin": "ZZ", "min": "1 000 000", "max": "500", "csrf": token})
    assert bad.status_code == 422
    assert field_error(bad.text, "origin")
    assert field_error(bad.text, "max")
    assert typed(bad.text, "min") == "1 000 000"
    good = analyst.post("/analysis/valuation/bounds/new", data={"hs": "8703", "origin": "FR", "unit": "kgm", "min": "1 500,5", "max": "", "note": "Voitures d'occasion", "csrf": token})
    assert good.status_code == 303
    with site.node.engine.connect() as conn:
        (bound,) = valuation.list_overrides(conn, hs="8703")
    assert str(bound.minimum) == "1500.5" and bound.unit == "KGM" and bound.author == "analyst"
    page = analyst.get("/analysis/valuation?hs=8703")
    rows = html.fromstring(page.text).xpath('//*[@data-test="bound-row"]')
    assert len(rows) == 1 and "Voitures d'occasion" in rows[0].text_content()
    lifted = analyst.post(f"/analysis/valuation/bounds/{bound.id}/lift", data={"csrf": csrf(page.text)})
    assert lifted.status_code == 303
    with site.node.engine.connect() as conn:
        assert valuation.list_overrides(conn, hs="8703") == []
    # a search with a bad code says so beside the field
    searched = analyst.get("/analysis/valuation?hs=87a")
    assert searched.status_code == 422 and field_error(searched.text, "hs")


def test_the_model_page_explains_the_engine_policy_and_quotas(site: LiveApi) -> None:
    page = signed_in(site, "analyst").get("/analysis/model")
    assert page.status_code == 200
    tree = html.fromstring(page.text)
    assert "Aucun modèle" in tree.xpath('//*[@data-test="model-window"]')[0].text_content()
    default = tree.xpath('//*[@data-test="office-quota" and @data-office=""]')
    assert default and "5,0" in default[0].text_content()  # the shipped policy's red rate
    assert len(tree.xpath('//*[@data-test="drift-week"]')) == 8
    assert signed_in(site, "officer").get("/analysis/model").status_code == 403


def test_partners_transits_and_mirror_control_are_read_only_pages(site: LiveApi) -> None:
    analyst = signed_in(site, "analyst", "en")
    with write(site.node.engine) as conn:
        raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        partners.add(conn, node_id="ML-AVANCE", country="ML", endpoint="http://127.0.0.1:9", public_key=base64.b64encode(raw).decode())
    exchange = html.fromstring(analyst.get("/analysis/exchange").text)  # the partners with their queues and the open alerts
    assert exchange.get_element_by_id("open-alerts") is not None
    row = exchange.xpath('//tr[@data-test="partner-row"][th="ML-AVANCE"]')[0]
    assert [c.text_content().strip() for c in row.xpath("td")][3:5] == ["0", ""]  # nothing queued toward Mali, nothing pending
    assert "<form method=\"post\"" not in analyst.get("/analysis/exchange").text.split("<main", 1)[1]
    for path in ("/analysis/transits?status=overdue", "/analysis/mirror-control?outcome=non_conforme"):
        answer = analyst.get(path)
        assert answer.status_code == 200
        assert "<form method=\"post\"" not in answer.text.split("<main", 1)[1]
    assert signed_in(site, "broker").get("/analysis/transits").status_code == 403
    assert signed_in(site, "officer").get("/analysis/exchange").status_code == 403


def _system(conn: object) -> Principal:
    """A principal allowed to read profiles, for checking the store."""
    return SYSTEM


def test_a_cargo_profile_is_shown_in_words_and_its_form_sends_the_analyst_to_yaml(site: LiveApi) -> None:
    document = {
        "description": {"fr": "Médicaments non chargés : contrôle", "en": "Medicines not loaded yet: screening"},
        "cargo": {"description_keywords": ["médicaments"], "not_loaded": True},
        "refer": {"kind": "request_for_screening"},
    }
    assert site.client("analyst").put("/risk/profiles/C-PAGE-CARGO", json=document).status_code == 201
    client = signed_in(site, "analyst")
    page = client.get("/analysis/profiles/C-PAGE-CARGO")
    assert page.status_code == 200
    assert "Pas encore chargé" in page.text and "demande de contrôle" in page.text and "True" not in page.text
    edit = client.get("/analysis/profiles/C-PAGE-CARGO/edit")
    assert edit.status_code == 409 and "YAML" in edit.text
