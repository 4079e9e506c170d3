"""The dashboards over real HTTP: release times (WCO TRS) on declarations whose events have known
times, the median cell changing when one more consignment is released, the CSV download of the
same query, filters kept and checked beside their fields, each other dashboard with its chart,
table and CSV, and refused to brokers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from lxml import etree, html
from sqlalchemy import Connection, insert

from avance.auth.sessions import set_password
from avance.declarations.tables import declaration_events, declarations, goods_items
from tests.support import LiveApi, make_node, serve

PASSWORD = "correct horse battery"
H = timedelta(hours=1)
DAY0 = (datetime.now(timezone.utc) - timedelta(days=10)).replace(hour=8, minute=0, second=0, microsecond=0)
RANGE = f"since={(DAY0 - timedelta(days=3)).date().isoformat()}&until={(DAY0 + timedelta(days=3)).date().isoformat()}"


def add(conn: Connection, n: int, *, arrived_after: float, released_after: float | None, lane: str = "green", inspected: dict | None = None) -> None:
    """Declaration ``n``, lodged a day before DAY0, arrived ``arrived_after`` hours after DAY0,
    released ``released_after`` hours after its arrival (written straight into the tables: the
    times must be exactly these)."""
    lodged = DAY0 - 24 * H
    arrived = DAY0 + arrived_after * H
    conn.execute(
        insert(declarations).values(
            id=n, lrn=f"W-{n}", declarant_id="SN0012345A7", importer_id="SN0098765B2", importer_name="Importer", office_code="SN-DKR-PORT",
            procedure_code="4000", transport_mode_code=1, estimated_arrival=arrived, registration_date=lodged.date(), lodged_at=lodged,
            invoice_currency="XOF", invoice_amount=Decimal(5000), currency="XOF", customs_value=Decimal(5000), duty_total=Decimal(1000),
            duties={"currency": "XOF", "lines": [], "total": "1000"}, lane=lane, score=Decimal("0.5"),
            reasons=[{"code": "policy.model.stream", "params": {}}], assessor="learned:test", status="released" if released_after is not None else "arrived", document={},
        )
    )
    conn.execute(
        insert(goods_items).values(
            declaration_id=n, sequence=1, hs_code="1006300000", description="riz", origin_country="TH", procedure_code="4000", duty_regime="GEN",
            net_mass=Decimal(1), gross_mass=Decimal(1), invoice_amount=Decimal(5000), customs_value=Decimal(5000), fob_value=Decimal(5000),
            duty_total=Decimal(1000), duties={},
        )
    )
    rows = [
        {"declaration_id": n, "kind": "lodged", "at": lodged, "actor": "broker", "data": {}},
        {"declaration_id": n, "kind": "lane_assigned", "at": lodged, "actor": "test", "data": {"lane": lane}},
        {"declaration_id": n, "kind": "arrived", "at": arrived, "actor": "officer", "data": {}},
    ]
    if inspected is not None:
        rows.append({"declaration_id": n, "kind": "inspected", "at": arrived + 0.5 * H, "actor": "officer", "data": inspected})
    if released_after is not None:
        rows.append({"declaration_id": n, "kind": "paid", "at": arrived, "actor": "broker", "data": {"amount": "1000", "currency": "XOF"}})
        rows.append({"declaration_id": n, "kind": "released", "at": arrived + released_after * H, "actor": "officer", "data": {}})
    conn.execute(insert(declaration_events), rows)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    tmp: Path = tmp_path_factory.mktemp("dashboard-pages")
    node = make_node(f"sqlite:///{(tmp / 'avance.db').as_posix()}", tmp)
    try:
        with node.engine.begin() as conn:
            add(conn, 1, arrived_after=0, released_after=2)
            add(conn, 2, arrived_after=1, released_after=4, lane="red", inspected={"fraud_found": True, "fraud_kinds": ["undervaluation"], "extra_duty": "250000", "findings": None})
            add(conn, 3, arrived_after=2, released_after=6, lane="yellow", inspected={"fraud_found": False, "fraud_kinds": [], "extra_duty": "0", "findings": None})
        for live in serve(node):
            with node.engine.begin() as conn:
                for name in ("analyst", "officer", "broker"):
                    set_password(conn, name, PASSWORD)
            yield live
    finally:
        node.engine.dispose()


def signed_in(site: LiveApi, name: str, lang: str = "fr") -> httpx.Client:
    client = httpx.Client(base_url=site.url, headers={"Accept-Language": lang}, timeout=30)
    assert client.post("/signin", data={"username": name, "password": PASSWORD}).status_code == 303
    return client


def text_of(page: str, element_id: str) -> str:
    """The element's text, its spaces (no-break ones of French numbers included) as plain spaces."""
    return re.sub(r"\s", " ", html.fromstring(page).get_element_by_id(element_id).text_content().strip())


def charts(page: str) -> list[etree._Element]:
    found = html.fromstring(page).xpath("//svg")
    for chart in found:
        assert chart.get("role") == "img"
        assert not chart.xpath(".//*[@style]") and not chart.xpath(".//style")
    return found


def test_release_times_show_the_median_and_shares_and_change_when_goods_are_released(site: LiveApi) -> None:
    officer = signed_in(site, "officer")
    page = officer.get(f"/dashboards/release-times?{RANGE}&period=day")
    assert page.status_code == 200
    assert text_of(page.text, "rt-arrived") == "3"
    assert text_of(page.text, "rt-median") == "4,0"  # 2 h, 4 h, 6 h: the median in hours, written in French
    assert text_of(page.text, "rt-lodged-before") == "100,0 %"
    assert text_of(page.text, "rt-on-arrival") == "0,0 %"
    assert len(charts(page.text)) == 2  # the trend per period and the distribution
    with site.node.engine.begin() as conn:
        add(conn, 4, arrived_after=3, released_after=0.5)
        add(conn, 5, arrived_after=3, released_after=0.25)
    page = officer.get(f"/dashboards/release-times?{RANGE}&period=day")
    assert text_of(page.text, "rt-arrived") == "5"
    assert text_of(page.text, "rt-median") == "2,0"
    assert text_of(page.text, "rt-on-arrival") == "40,0 %"
    english = signed_in(site, "officer", "en").get(f"/dashboards/release-times?{RANGE}&by=lane")
    assert [g.text_content() for g in html.fromstring(english.text).xpath('//*[@data-test="rt-group"]/h2')] == ["green", "yellow", "red"]


def test_the_release_time_csv_is_the_same_query(site: LiveApi) -> None:
    analyst = signed_in(site, "analyst")
    page = analyst.get(f"/dashboards/release-times?{RANGE}&lane=red")
    link = html.fromstring(page.text).get_element_by_id("rt-csv").get("href")
    assert link.startswith("/dashboards/release-times.csv?") and "lane=red" in link
    answer = analyst.get(link)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    lines = answer.text.splitlines()
    assert lines[0].startswith("scope,period,period_start,period_end,office,lane")
    ranges = [line for line in lines[1:] if line.startswith("range,") and ",arrival_to_release," in line]
    assert len(ranges) == 1 and ",1," in ranges[0]  # one red consignment


def test_bad_filters_are_shown_beside_their_fields_and_kept(site: LiveApi) -> None:
    analyst = signed_in(site, "analyst")
    page = analyst.get("/dashboards/release-times?since=2026-13-01&on_arrival_minutes=soon")
    assert page.status_code == 422
    tree = html.fromstring(page.text)
    assert tree.get_element_by_id("since").get("aria-invalid") == "true"
    assert tree.get_element_by_id("since").get("value") == "2026-13-01"
    assert tree.get_element_by_id("on_arrival_minutes-error").text_content().strip()
    reversed_range = analyst.get("/dashboards/lanes?since=2026-05-02&until=2026-05-01")
    assert reversed_range.status_code == 422
    assert "avant de commencer" in html.fromstring(reversed_range.text).get_element_by_id("since-error").text_content()


@pytest.mark.parametrize("dashboard", ["lanes", "revenue", "hit-rates", "precision"])
def test_each_dashboard_has_a_chart_a_table_and_a_csv(site: LiveApi, dashboard: str) -> None:
    analyst = signed_in(site, "analyst")
    page = analyst.get(f"/dashboards/{dashboard}?{RANGE}")
    assert page.status_code == 200
    assert charts(page.text)
    assert html.fromstring(page.text).xpath("//table//th[@scope='col']")
    link = html.fromstring(page.text).get_element_by_id("dashboard-csv").get("href")
    csv_answer = analyst.get(link)
    assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith("text/csv")
    assert len(csv_answer.text.splitlines()) >= 2


def test_revenue_and_hit_rates_show_what_controls_found(site: LiveApi) -> None:
    analyst = signed_in(site, "analyst", "en")
    revenue = analyst.get(f"/dashboards/revenue?{RANGE}")
    assert text_of(revenue.text, "revenue-recovered-XOF") == "250,000 XOF"
    hits = analyst.get(f"/dashboards/hit-rates?{RANGE}")
    red = html.fromstring(hits.text).xpath('//tr[@data-test="hit-rate-lane" and @data-name="red"]')[0]
    assert "100.0%" in red.text_content()


def test_dashboards_are_refused_to_brokers(site: LiveApi) -> None:
    broker = signed_in(site, "broker")
    assert broker.get("/dashboards").status_code == 403
    assert broker.get(f"/dashboards/release-times.csv?{RANGE}").status_code == 403
    home = signed_in(site, "officer").get("/dashboards")
    assert {f"/dashboards/{d}" for d in ("release-times", "lanes", "revenue", "hit-rates", "precision")} <= {a.get("href") for a in html.fromstring(home.text).iter("a")}
