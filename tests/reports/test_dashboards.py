"""The dashboards' data, checked by hand on a small node: lanes per week, duties assessed and
found at control (exact decimals), hit rates per lane and profile, the model's weekly precision
against random draws; their CSV files; and the charts as accessible SVG without inline styles."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from avance.reports import dashboards as db
from avance.reports.svg import Series, bar_chart, histogram, line_chart
from avance.store.engine import write
from tests.reports.conftest import H, T0, add, control
from tests.support import make_node

Q = db.DashboardQuery(since=date(2026, 4, 6), until=date(2026, 4, 19), period="week")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dash")
    n = make_node(f"sqlite:///{tmp / 'avance.db'}", tmp)
    with write(n.engine) as conn:
        add(conn, 1, lodged=T0, duty="1000.50")
        add(conn, 2, lodged=T0 + H, lane="red", duty="2000", events=[("arrived", T0 + 2 * H), ("inspected", T0 + 5 * H, control(True, "500.25"))], profiles=["P1"])
        add(conn, 3, lodged=T0 + 2 * H, lane="yellow", events=[("inspected", T0 + 3 * H, control(False))], basis="policy.random", profiles=["P1"])
        add(conn, 4, lodged=T0 + 7 * 24 * H, lane="red", events=[("arrived", T0 + 7 * 24 * H), ("inspected", T0 + 8 * 24 * H, control(True, "100"))], basis="policy.random")
        add(conn, 5, lodged=T0 + 7 * 24 * H, lane="red", office="SN-DKR-AIBD", events=[("arrived", T0 + 7 * 24 * H), ("inspected", T0 + 8 * 24 * H, control(False))])
        add(conn, 6, lodged=T0, duty="999", events=[("rejected", T0 + H)])
    yield n
    n.engine.dispose()


def test_lanes_per_week(node):
    with node.engine.connect() as conn:
        lanes = db.lanes_over_time(conn, Q, cache=None)
    assert [p[0] for p in lanes.periods] == ["2026-W15", "2026-W16"]
    assert (lanes.count("2026-W15", "green"), lanes.count("2026-W15", "red"), lanes.count("2026-W15", "yellow")) == (2, 1, 1)
    assert lanes.count("2026-W16", "red") == 2
    with node.engine.connect() as conn:
        only = db.lanes_over_time(conn, db.DashboardQuery(since=Q.since, until=Q.until, offices=("SN-DKR-AIBD",)), cache=None)
    assert only.count("2026-W16", "red") == 1
    rows = list(csv.DictReader(io.StringIO(db.lanes_csv(lanes))))
    assert tuple(rows[0]) == db.LANES_COLUMNS and rows[0]["share"] == "0.5000"


def test_revenue_assessed_and_found_at_control_in_exact_decimals(node):
    with node.engine.connect() as conn:
        revenue = db.revenue(conn, Q, cache=None)
    first, second = revenue.rows
    assert (first.currency, first.declarations, first.assessed) == ("XOF", 3, Decimal("4000.50"))  # the rejected one left out
    assert (first.controls, first.controls_with_extra_duty, first.recovered_at_control) == (2, 1, Decimal("500.25"))
    assert (second.recovered_at_control, second.controls) == (Decimal("100"), 2)
    assert revenue.total("XOF") == (Decimal("6000.50"), Decimal("600.25"))
    rows = list(csv.DictReader(io.StringIO(db.revenue_csv(revenue))))
    assert tuple(rows[0]) == db.REVENUE_COLUMNS and rows[0]["assessed"] == "4000.5"


def test_hit_rates_per_lane_and_profile(node):
    with node.engine.connect() as conn:
        rates = db.hit_rates(conn, Q, cache=None)
    red = next(h for h in rates.lanes if h.name == "red")
    assert (red.selected, red.controls, red.hits, red.hit_rate, red.extra_duty) == (3, 3, 2, Decimal("0.6667"), Decimal("600.25"))
    p1 = next(h for h in rates.profiles if h.name == "P1")
    assert (p1.selected, p1.controls, p1.hits, p1.hit_rate, p1.extra_duty) == (2, 2, 1, Decimal("0.5000"), Decimal("500.25"))
    rows = list(csv.DictReader(io.StringIO(db.hit_rates_csv(rates))))
    assert tuple(rows[0]) == db.HIT_RATE_COLUMNS and {r["kind"] for r in rows} == {"lane", "profile"}


def test_the_models_precision_week_by_week_against_random_draws(node):
    with node.engine.connect() as conn:
        precision = db.model_precision(conn, Q, cache=None)
    w15, w16 = precision.weeks
    assert (w15.all.controls, w15.all.hits) == (2, 1)
    assert (w15.by_basis["model"].precision, w15.by_basis["random"].precision) == (Decimal(1), Decimal(0))
    assert (w16.by_basis["model"].controls, w16.by_basis["model"].hits, w16.by_basis["random"].hits) == (1, 0, 1)
    assert precision.overall.by_basis["model"].precision == Decimal("0.5000") and precision.overall.lift == Decimal("1.00")
    rows = list(csv.DictReader(io.StringIO(db.precision_csv(precision))))
    assert tuple(rows[0]) == db.PRECISION_COLUMNS and rows[0]["model_precision"] == "1.0000"


def parsed(svg: str) -> etree._Element:
    root = etree.fromstring(svg.encode())
    assert root.get("role") == "img"
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.find("s:title", ns) is not None and root.find("s:desc", ns) is not None
    assert not root.xpath("//*[@style]") and not root.xpath("//s:style", namespaces=ns)
    return root


def test_charts_are_well_formed_accessible_and_free_of_inline_styles():
    hostile = 'Dakar <port> & "quai"'
    bars = parsed(bar_chart("lanes", "Circuits par semaine", hostile, ["W15", "W16"], [Series("vert", [2, 0], "lane-green"), Series("rouge", [1, 2], "lane-red")], stacked=True))
    assert bars.find("{http://www.w3.org/2000/svg}desc").text == hostile
    assert len(bars.xpath("//s:rect[contains(@class, 'lane-red')]", namespaces={"s": "http://www.w3.org/2000/svg"})) == 3  # two bars, one legend key
    lines = parsed(line_chart("times", "Délais", "médiane", ["W15", "W16", "W17"], [Series("Arrivée → mainlevée", [3.25, None, 1.0], "chart-a2r")]))
    assert len(lines.xpath("//s:circle", namespaces={"s": "http://www.w3.org/2000/svg"})) == 2
    parsed(histogram("dist", "Distribution", "heures", ["0–1 h", "1–2 h"], [2, 0], css="stage"))
    parsed(bar_chart("empty", "Rien", "aucune donnée", [], []))
