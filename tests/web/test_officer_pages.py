"""The officer's pages, over real HTTP with a signed-in browser session: the office queue, a
declaration worked through its forms (arrival, control with extra duty, payment, release), errors
beside their fields in French, a voyage's arrival recorded once for a cargo report, the release
note and its check at the gate."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from avance.auth.model import Role
from avance.auth.service import create_user
from avance.auth.sessions import set_offices, set_password
from avance.bootstrap import Node
from avance.declarations import service
from avance.declarations.assessment import Lane
from avance.entrypoints.http import create_app
from avance.store.engine import write
from avance.web.officer import BrowserRoute
from tests.support import declaration, free_port, make_node, manifest

PASSWORD = "correct horse battery staple"
PARTY = {"broker": "SN0012345A7", "other_broker": "SN0077777D3", "carrier": "SN0055555C1"}


@dataclass
class Site:
    """A node serving its API and pages on 127.0.0.1, with an API token per user."""

    url: str
    node: Node
    tokens: dict[str, str]

    def api(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=30)

    @contextmanager
    def browser(self, who: str, lang: str = "fr") -> Iterator[httpx.Client]:
        """A browser signed in as ``who`` (asks for HTML, keeps the session cookie)."""
        with httpx.Client(base_url=self.url, headers={"Accept": "text/html,application/xhtml+xml", "Accept-Language": lang}, timeout=30) as client:
            answer = client.post("/signin", data={"username": who, "password": PASSWORD})
            assert answer.status_code == 303, answer.text
            yield client


def serve_site(node: Node) -> Iterator[Site]:
    """The node's application as ``avance serve`` builds it, each user with a password; the
    officer works at Dakar port. Pages that share an API address (``BrowserRoute``) are put
    before the API's routes, as ``avance.entrypoints.http`` must install them."""
    tokens = {}
    with write(node.engine) as conn:
        for name, role, party in [
            ("admin", Role.ADMIN, None),
            ("officer", Role.OFFICER, None),
            ("airport", Role.OFFICER, None),
            ("analyst", Role.ANALYST, None),
            ("broker", Role.DECLARANT, PARTY["broker"]),
            ("other_broker", Role.DECLARANT, PARTY["other_broker"]),
            ("carrier", Role.CARRIER, PARTY["carrier"]),
        ]:
            _, tokens[name] = create_user(conn, name=name, role=role, party_id=party)
            set_password(conn, name, PASSWORD)
        set_offices(conn, "officer", ["SN-DKR-PORT"])
        set_offices(conn, "airport", ["SN-DSS-AIR"])
    app = create_app(node)
    app.router.routes.sort(key=lambda route: not _serves_pages(route))  # stable: a no-op once pages come first
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield Site(f"http://127.0.0.1:{port}", node, tokens)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _serves_pages(route: Any) -> bool:
    """Whether an application route (or an included router) holds a page at an API address."""
    inner = getattr(getattr(route, "original_router", None), "routes", [])
    return isinstance(route, BrowserRoute) or any(isinstance(r, BrowserRoute) for r in inner)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    node = make_node(f"sqlite:///{(tmp_path / 'avance.db').as_posix()}", tmp_path)
    try:
        yield from serve_site(node)
    finally:
        node.engine.dispose()


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no form token on the page"
    return found.group(1)


def post_form(browser: httpx.Client, page: str, action: str, fields: dict[str, Any]) -> httpx.Response:
    """Fill a form of ``page`` and send it, as a browser does (with the page's form token)."""
    token = csrf(browser.get(page).text)
    return browser.post(action, data={"csrf": token, **fields})


def rice(lrn: str) -> dict[str, Any]:
    doc = declaration(lrn=lrn, transport_document_reference=f"BL-{lrn}", invoice_currency="USD", total_package_quantity=500)
    item = doc["goods_items"][0]
    item.update(hs_code="1006300000", description="Riz blanchi", origin_country="TH", net_mass="25000", gross_mass="25200")
    item["packages"] = [{"quantity": 500, "type_code": "BG"}]
    return doc


def lodge(site: Site, doc: dict[str, Any], who: str = "broker") -> dict[str, Any]:
    with site.api(who) as api:
        answer = api.post("/declarations", json=doc)
    assert answer.status_code == 201, answer.text
    return answer.json()


def set_lane(site: Site, declaration_id: int, lane: Lane) -> None:
    with write(site.node.engine) as conn:
        service.raise_lane(conn, declaration_id, lane, [], actor="mirror-control", source="mirror_control")


def rows(html: str, hook: str = "queue-row") -> list[tuple[int, str]]:
    return [(int(i), lane) for i, lane in re.findall(rf'data-test="{hook}" data-id="(\d+)" data-lane="(\w+)"', html)]


# --- the queue -----------------------------------------------------------------------------------


def test_the_queue_shows_the_offices_declarations_riskiest_first_with_filters_and_the_amount_at_stake(site):
    car = lodge(site, declaration(lrn="Q-CAR", transport_document_reference="BL-Q-CAR"))
    grains = [lodge(site, rice(f"Q-RICE-{n}")) for n in range(3)]
    set_lane(site, grains[1]["id"], Lane.RED)
    lanes = {d["id"]: ("red" if d is grains[1] else d["lane"]) for d in [car, *grains]}
    with site.browser("officer") as officer:
        page = officer.get("/queue")
        assert page.status_code == 200 and page.headers["content-language"] == "fr"
        listed = rows(page.text)
        assert {i for i, _ in listed} == set(lanes)
        severity = {"red": 3, "yellow": 2, "blue": 1, "green": 0}
        assert [severity[lane] for _, lane in listed] == sorted((severity[lane] for _, lane in listed), reverse=True)
        assert listed[0] == (grains[1]["id"], "red")
        assert "Droits et taxes en jeu" in page.text and "\u202f" in page.text  # amounts grouped the French way

        assert [i for i, _ in rows(officer.get("/queue?lane=red").text)] == [grains[1]["id"]]
        assert {i for i, _ in rows(officer.get("/queue?hs_code=1006").text)} == {g["id"] for g in grains}
        assert {i for i, _ in rows(officer.get("/queue?origin=fr").text)} == {car["id"]}
        assert {i for i, _ in rows(officer.get("/queue?importer=auto import").text)} == set(lanes)
        assert rows(officer.get("/queue?status=released").text) == []

        filtered = post_form(officer, "/queue", "/queue", {"lane": "red", "hs_code": "1006", "origin": ""})
        assert filtered.status_code == 303 and filtered.headers["location"] == "/queue?lane=red&hs_code=1006"

        wrong = officer.get("/queue?origin=France&from=demain")
        assert wrong.status_code == 422
        assert 'id="f-origin-error"' in wrong.text and "code à deux lettres" in wrong.text
        assert 'id="f-from-error"' in wrong.text and 'value="demain"' in wrong.text

    with site.browser("airport") as airport:  # another office: none of Dakar port's work
        assert rows(airport.get("/queue").text) == []
    with site.browser("admin") as admin:
        assert {i for i, _ in rows(admin.get("/queue").text)} == set(lanes)
    with site.browser("broker") as broker:
        assert broker.get("/queue").status_code == 403


# --- a declaration worked through its forms ----------------------------------------------------------


def test_an_officer_records_arrival_control_with_extra_duty_payment_and_release_through_the_forms(site):
    lodged = lodge(site, declaration(lrn="F-1", transport_document_reference="BL-F-1"))
    page = f"/declarations/{lodged['id']}"
    with site.browser("officer") as officer:
        shown = officer.get(page)
        assert shown.status_code == 200 and "text/html" in shown.headers["content-type"]
        assert 'id="record-control"' in shown.text and "data-confirm=" in shown.text
        assert "Ce qui empêche encore la mainlevée" in shown.text and "les marchandises ne sont pas arrivées" in shown.text

        arrived = post_form(officer, page, f"{page}/record-arrival", {"arrived_at": ""})
        assert arrived.status_code == 303 and arrived.headers["location"] == f"{page}?done=arrival"
        control = post_form(
            officer, page, f"{page}/record-control",
            {"fraud_found": "true", "fraud_kinds": ["undervaluation", "quantity"], "extra_duty": "250 000", "findings": "Facture minorée"},
        )
        assert control.status_code == 303, control.text
        with site.api("officer") as api:
            view = api.get(page).json()  # the API at the same address still answers programs
        assert view["amount_due"] == str(__import__("decimal").Decimal(lodged["duty_total"]) + 250000)
        inspected = next(e for e in view["events"] if e["kind"] == "inspected")
        assert inspected["data"]["fraud_kinds"] == ["quantity", "undervaluation"] and inspected["data"]["findings"] == "Facture minorée"

        paid = post_form(officer, page, f"{page}/record-payment", {"amount": view["amount_outstanding"], "receipt": "Q-F-1"})
        assert paid.status_code == 303, paid.text
        released = post_form(officer, page, f"{page}/record-release", {})
        assert released.status_code == 303, released.text
        done = officer.get(released.headers["location"])
        assert "Mainlevée donnée" in done.text and 'data-status="released"' in done.text
        number = re.search(r"Bon à enlever (BAE-SN-DKR-PORT-\d{4}-\d{6})", done.text).group(1)

        note = officer.get(f"{page}/release-note")
        assert note.status_code == 200 and number in note.text and "CSQU3054383" in note.text and "SN123456" in note.text
        report = officer.get(f"{page}/control-report")
        assert report.status_code == 200 and "Facture minorée" in report.text and "sous-évaluation" in report.text

        checked = post_form(officer, "/verify", "/verify", {"number": number.lower()})
        assert checked.status_code == 303
        gate = officer.get(checked.headers["location"])
        assert 'data-released="yes"' in gate.text and "CSQU3054383" in gate.text and "les marchandises peuvent sortir" in gate.text
        unknown = officer.get("/verify?number=BAE-XX-1")
        assert unknown.status_code == 404 and 'id="f-number-error"' in unknown.text and "BAE-XX-1" in unknown.text
    with site.browser("broker") as broker:
        assert broker.get("/verify").status_code == 403  # the gate is customs staff's


def test_bad_input_is_shown_beside_its_field_in_french_and_what_was_typed_is_kept(site):
    lodged = lodge(site, declaration(lrn="E-1", transport_document_reference="BL-E-1"))  # yellow: control before payment
    page = f"/declarations/{lodged['id']}"
    with site.browser("officer") as officer:
        no_kind = post_form(officer, page, f"{page}/record-control", {"fraud_found": "true", "extra_duty": "1000", "findings": "Colis ouverts"})
        assert no_kind.status_code == 422
        assert 'id="f-fraud_kinds-error">Indiquez la nature de la fraude constatée.' in no_kind.text
        assert ">Colis ouverts</textarea>" in no_kind.text and 'value="1000"' in no_kind.text
        assert 'aria-describedby="f-fraud_kinds-error"' in no_kind.text

        missing = post_form(officer, page, f"{page}/record-control", {"extra_duty": "abc"})
        assert missing.status_code == 422
        assert 'id="f-fraud_found-error"' in missing.text and 'id="f-extra_duty-error"' in missing.text and 'value="abc"' in missing.text

        early = post_form(officer, page, f"{page}/record-payment", {"amount": "10", "receipt": "Q-E-1"})
        assert early.status_code == 409 and "Enregistrez le résultat du contrôle avant le paiement" in early.text
        assert 'value="Q-E-1"' in early.text

        future = post_form(officer, page, f"{page}/record-arrival", {"arrived_at": "2999-01-01T10:00"})
        assert future.status_code == 422 and 'id="f-arrived_at-error"' in future.text and "dans le futur" in future.text

        blocked = post_form(officer, page, f"{page}/record-release", {})
        assert blocked.status_code == 409 and "Mainlevée impossible pour l'instant" in html.unescape(blocked.text)

        forged = officer.post(f"{page}/record-arrival", data={"csrf": "forged"})
        assert forged.status_code == 403
    with site.api("officer") as api:
        assert [e["kind"] for e in api.get(page).json()["events"]] == ["lodged", "assessed", "lane_assigned"]  # nothing stored
    with site.browser("officer", lang="en") as officer:
        english = post_form(officer, page, f"{page}/record-control", {"fraud_found": "true"})
        assert english.status_code == 422 and "Kind of fraud" in english.text


# --- cargo reports -------------------------------------------------------------------------------


def test_a_voyages_arrival_is_recorded_once_for_every_declaration_of_its_cargo_report(site):
    with site.api("carrier") as carrier:
        lodged = carrier.post("/manifests", json=manifest())
    assert lodged.status_code in (200, 201), lodged.text
    manifest_id = lodged.json()["id"]
    first = lodge(site, declaration(manifest_reference="MAN-2026-0001"))  # bill GRIM0123456
    second_doc = declaration(lrn="CARGO-2", transport_document_reference="GRIM0123457", manifest_reference="MAN-2026-0001", containers=[])
    second_doc["goods_items"][0].update(net_mass="700", gross_mass="750", container_ids=[])  # within the bill's 800 kg
    second = lodge(site, second_doc)
    unrelated = lodge(site, declaration(lrn="CARGO-3", transport_document_reference="BL-ELSEWHERE"))
    with site.api("officer") as api:
        assert api.post(f"/declarations/{first['id']}/arrival", json={}).status_code == 200
    page = f"/cargo-reports/{manifest_id}"
    with site.browser("officer") as officer:
        listing = officer.get("/cargo-reports")
        assert listing.status_code == 200 and f'data-id="{manifest_id}"' in listing.text and "GD0426" in listing.text
        shown = officer.get(page)
        assert shown.status_code == 200
        assert f'data-test="bill-declaration" data-id="{first["id"]}"' in shown.text and f'data-id="{second["id"]}"' in shown.text
        assert f'data-id="{unrelated["id"]}"' not in shown.text
        done = post_form(officer, page, f"{page}/record-arrival", {"arrived_at": ""})
        assert done.status_code == 303
        outcome = officer.get(done.headers["location"])
        assert 'data-recorded="1" data-skipped="1"' in outcome.text and "déjà arrivée" in outcome.text
    with site.api("officer") as api:
        for d, arrivals in ((first, 1), (second, 1), (unrelated, 0)):
            events = [e["kind"] for e in api.get(f"/declarations/{d['id']}").json()["events"]]
            assert events.count("arrived") == arrivals
    with site.browser("broker") as broker:
        assert broker.get(page).status_code == 403
