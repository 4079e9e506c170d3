"""Release times as a customs director reads them: each stage's median and 90th percentile over
declarations with known event times (checked by hand below), shares lodged before arrival and
released on arrival, the change from the previous week, filters and groups, the CSV file, the
command line, and a cache that follows new events."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
import typer
from typer.testing import CliRunner

from avance.kit.errors import ValidationFailed
from avance.kit.settings import get_settings
from avance.reports.cache import ReportCache
from avance.reports.cli import reports_app
from avance.reports.release_times import CSV_COLUMNS, ReleaseQuery, release_times, release_times_csv
from avance.store.engine import write
from tests.reports.conftest import H, T0, add, control
from tests.support import make_node

WEEK = (date(2026, 4, 6), date(2026, 4, 12))
NOW = T0 + 100 * H


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """Five declarations arrived in the week of 6 April 2026, one rejected, one the week before.

    arrival → release: 1800 s, 32400 s, 21600 s, 900 s (and one not released): median
    (1800 + 21600) / 2 = 11700 s; 90th percentile 21600 + 0.7 × (32400 − 21600) = 29160 s.
    """
    tmp = tmp_path_factory.mktemp("week")
    node = make_node(f"sqlite:///{tmp / 'avance.db'}", tmp)
    fill(node)
    yield node
    node.engine.dispose()


def fill(node):
    with write(node.engine) as conn:
        add(conn, 1, lodged=T0 - 48 * H, events=[("paid", T0 - 24 * H, {"amount": "1000"}), ("arrived", T0), ("released", T0 + 0.5 * H)])
        add(conn, 2, lodged=T0 + 1 * H, lane="red", events=[("arrived", T0), ("inspected", T0 + 5 * H, control(True, "500")), ("paid", T0 + 7 * H), ("released", T0 + 9 * H)])
        add(
            conn, 3, lodged=T0 - 10 * H, lane="yellow", office="SN-DKR-AIBD", mode=4, hs="8703231000",
            events=[("arrived", T0 + 24 * H), ("inspected", T0 + 26 * H, control(False)), ("paid", T0 + 27 * H), ("released", T0 + 30 * H)],
        )
        add(conn, 4, lodged=T0 - 24 * H, events=[("arrived", T0 + 48 * H), ("paid", T0 + 48.25 * H), ("released", T0 + 48.25 * H)])
        add(conn, 5, lodged=T0, events=[("arrived", T0 + 50 * H)])
        add(conn, 6, lodged=T0, events=[("arrived", T0 + H), ("rejected", T0 + 2 * H)])
        add(conn, 7, lodged=T0 - 96 * H, events=[("arrived", T0 - 72 * H), ("paid", T0 - 72 * H), ("released", T0 - 70 * H)])


def report(node, **query):
    query.setdefault("since", WEEK[0])
    query.setdefault("until", WEEK[1])
    with node.engine.connect() as conn:
        return release_times(conn, ReleaseQuery(**query), now=NOW, cache=None)


def test_each_stage_has_its_count_median_and_90th_percentile(week):
    (total,) = report(week, period=None).totals
    assert total.arrived == 5  # the rejected declaration is left out, the previous week's is not in this one
    m = total.measures
    assert (m["arrival_to_release"].count, m["arrival_to_release"].median, m["arrival_to_release"].p90) == (4, 11700, pytest.approx(29160))
    assert (m["arrival_to_control"].count, m["arrival_to_control"].median, m["arrival_to_control"].p90) == (2, 12600, pytest.approx(16920))
    assert (m["control_to_payment"].count, m["control_to_payment"].median) == (2, 5400)  # 7200 and 3600
    # payment → release starts at arrival when paid before it (declaration 1: 1800 s); 7200, 10800, 0
    assert (m["payment_to_release"].count, m["payment_to_release"].median) == (4, 4500)
    assert m["arrival_to_release"].median_hours == pytest.approx(3.25)
    assert [b.count for b in m["arrival_to_release"].histogram] == [2, 0, 0, 1, 1, 0, 0, 0, 0]


def test_lead_time_and_the_shares_lodged_before_and_released_on_arrival(week):
    (total,) = report(week, period=None).totals
    lead = total.measures["lodging_to_arrival"]
    assert (lead.count, lead.median) == (5, 172800)  # −3600, 122400, 172800, 180000, 259200
    assert [b.count for b in lead.histogram] == [1, 0, 1, 2, 1, 0, 0]  # one lodged after arrival; 2 days falls in [2 d, 3 d)
    assert total.lodged_before_arrival == pytest.approx(0.8)
    # released within an hour: 1 (30 min) and 4 (15 min), of 5 (5 arrived 50 h ago and is still waiting)
    assert total.released_on_arrival == pytest.approx(0.4)
    assert report(week, period=None, on_arrival_minutes=20).totals[0].released_on_arrival == pytest.approx(0.2)


def test_the_change_from_the_previous_week(week):
    (total,) = report(week, period=None).totals
    change = total.changes["arrival_to_release"]
    assert (change.previous_count, change.previous_median, change.median_change) == (1, 7200, 4500)
    assert change.median_change_ratio == pytest.approx(0.625)
    assert total.previous_lodged_before_arrival == 1.0


def test_filters_and_groups(week):
    (aibd,) = report(week, period=None, offices=("SN-DKR-AIBD",)).totals
    assert (aibd.arrived, aibd.measures["arrival_to_release"].median) == (1, 21600)
    assert report(week, period=None, modes=(4,)).totals[0].arrived == 1
    assert report(week, period=None, sections=("XVII",)).totals[0].arrived == 1  # vehicles, chapter 87
    assert report(week, period=None, lanes=("red",)).totals[0].measures["arrival_to_control"].median == 18000
    by_lane = {g.key.lane: g for g in report(week, period=None, by=("lane",)).totals}
    assert sorted(by_lane) == ["green", "red", "yellow"]
    assert (by_lane["green"].arrived, by_lane["green"].measures["arrival_to_release"].median) == (3, 1350)
    assert {g.key.section for g in report(week, period=None, by=("section",)).totals} == {"II", "XVII"}


def test_days_of_the_week_each_against_the_day_before(week):
    series = report(week, period="day").series
    assert [(g.period, g.arrived) for g in series] == [("2026-04-06", 2), ("2026-04-07", 1), ("2026-04-08", 2)]
    assert not series[0].has_previous
    assert series[1].changes["arrival_to_release"].median_change == 21600 - 17100


def test_invalid_queries_are_refused_with_their_reasons(node):
    with pytest.raises(ValidationFailed) as refused:
        report(node, since=date(2026, 5, 1), until=date(2026, 4, 1))
    assert [i.code for i in refused.value.issues] == ["reports.range_reversed"]
    with pytest.raises(ValidationFailed) as refused:
        report(node, by=("importer",), sections=("XXX",))
    assert [i.code for i in refused.value.issues] == ["reports.bad_dimension", "reports.bad_section"]


def test_the_csv_file_has_the_documented_columns_and_one_line_per_measure(week):
    text = release_times_csv(report(week, period="week"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2 * 5  # the range and its one week, five measures each
    line = next(r for r in rows if r["scope"] == "range" and r["measure"] == "arrival_to_release")
    assert (line["median_seconds"], line["p90_seconds"], line["median_hours"], line["median_change_percent"]) == ("11700", "29160", "3.25", "62.5")
    assert (line["arrived"], line["released_on_arrival_share"], line["bucket_0_1h"]) == ("5", "0.4000", "2")


def test_the_cache_answers_until_an_event_arrives(node):
    week = node
    fill(week)
    cache = ReportCache()
    query = ReleaseQuery(since=WEEK[0], until=WEEK[1], period=None)
    with week.engine.connect() as conn:
        first = release_times(conn, query, now=NOW, cache=cache)
        assert release_times(conn, query, now=NOW, cache=cache) is first
    with write(week.engine) as conn:
        from avance.declarations.tables import declaration_events  # the officer releases declaration 5

        conn.execute(declaration_events.insert().values(declaration_id=5, kind="released", at=T0 + 50.5 * H, actor="officer", data={}))
    with week.engine.connect() as conn:
        fresh = release_times(conn, query, now=NOW, cache=cache)
    assert fresh is not first and fresh.totals[0].measures["arrival_to_release"].count == 5
    assert (cache.hits, cache.misses) == (1, 2)


def test_the_command_line_prints_the_figures_and_the_csv(week, monkeypatch):
    monkeypatch.setenv("AVANCE_DATABASE_URL", str(week.engine.url.render_as_string(hide_password=False)))
    monkeypatch.setenv("AVANCE_LANG", "en")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        program = typer.Typer()
        program.add_typer(reports_app, name="reports")
        shown = runner.invoke(program, ["reports", "release-times", "--since", "2026-04-06", "--until", "2026-04-12"])
        assert shown.exit_code == 0, shown.output
        assert "Arrival → release" in shown.output and "3.2" in shown.output
        written = runner.invoke(program, ["reports", "release-times", "--since", "2026-04-06", "--until", "2026-04-12", "--csv", "--by", "lane"])
        assert written.exit_code == 0 and written.output.startswith("scope,period,")
        refused = runner.invoke(program, ["reports", "release-times", "--since", "2026-04-12", "--until", "2026-04-06"])
        assert refused.exit_code == 2 and "ends" in refused.output
    finally:
        get_settings.cache_clear()


def test_a_default_range_is_the_last_thirty_days(node):
    with node.engine.connect() as conn:
        r = release_times(conn, ReleaseQuery(), cache=None)
    assert r.query.until - r.query.since == timedelta(days=29) and r.totals[0].arrived == 0
