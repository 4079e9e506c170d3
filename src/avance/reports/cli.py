"""``avance reports``: release-time figures from the command line, as a table or as the CSV file of
``GET /reports/release-times?format=csv``."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from avance.kit.cli import H, fail_error, headed_table, lang, number, open_store, out, parse_date, percent
from avance.kit.errors import AvanceError
from avance.kit.i18n import t

reports_app = typer.Typer(help=H("reports"), no_args_is_help=True)


def _hours(seconds: float | None) -> str:
    return "" if seconds is None else number(seconds / 3600, 1)


@reports_app.command("release-times", help=H("reports.release_times"))
def release_times_command(
    since: Annotated[Optional[str], typer.Option("--since", help=H("reports.since"), metavar="YYYY-MM-DD")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help=H("reports.until"), metavar="YYYY-MM-DD")] = None,
    office: Annotated[Optional[list[str]], typer.Option("--office", help=H("reports.office"))] = None,
    lane: Annotated[Optional[list[str]], typer.Option("--lane", help=H("reports.lane"))] = None,
    mode: Annotated[Optional[list[int]], typer.Option("--mode", help=H("reports.mode"))] = None,
    section: Annotated[Optional[list[str]], typer.Option("--section", help=H("reports.section"))] = None,
    by: Annotated[Optional[list[str]], typer.Option("--by", help=H("reports.by"))] = None,
    period: Annotated[str, typer.Option("--period", help=H("reports.period"))] = "none",
    on_arrival_minutes: Annotated[int, typer.Option("--on-arrival-minutes", help=H("reports.on_arrival_minutes"))] = 60,
    csv: Annotated[bool, typer.Option("--csv", help=H("reports.csv"))] = False,
) -> None:
    # loaded when the command runs: numpy and the node's tables cost start-up time
    from avance.reports.release_times import MEASURES, ReleaseQuery, release_times, release_times_csv

    query = ReleaseQuery(
        since=parse_date(since, "--since"),
        until=parse_date(until, "--until"),
        offices=tuple(office or ()),
        lanes=tuple(lane or ()),
        modes=tuple(mode or ()),
        sections=tuple(section or ()),
        by=tuple(by or ()),
        period=None if period == "none" else period,
        on_arrival_minutes=on_arrival_minutes,
    )
    try:
        with open_store().engine.connect() as conn:
            report = release_times(conn, query, cache=None)
    except AvanceError as exc:
        fail_error(exc)
    if csv:
        sys.stdout.write(release_times_csv(report))
        return
    language = lang()
    q = report.query
    out.print(t("reports.release_times.title", language, since=q.since, until=q.until, previous_since=report.previous_since, previous_until=report.previous_until), markup=False)
    table = headed_table("group", "measure", "count", "median_hours", "p90_hours", "median_change", "lodged_before_arrival", "released_on_arrival")
    for g in report.totals:
        key = " · ".join(str(v) for v in (g.key.office, g.key.lane, g.key.mode, g.key.section) if v is not None) or t("reports.all", language)
        for name in MEASURES:
            f = g.measures[name]
            change = g.changes.get(name)
            ratio = "" if change is None or change.median_change_ratio is None else percent(change.median_change_ratio)
            table.add_row(
                key,
                t(f"reports.measure.{name}", language),
                number(f.count),
                _hours(f.median),
                _hours(f.p90),
                ratio,
                "" if g.lodged_before_arrival is None else percent(g.lodged_before_arrival),
                "" if g.released_on_arrival is None else percent(g.released_on_arrival),
            )
    out.print(table)
