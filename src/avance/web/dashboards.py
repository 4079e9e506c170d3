"""The dashboards (``/dashboards``, staff with ``Action.READ_REPORTS``): release times as the WCO
Time Release Study measures them, lanes over time, revenue assessed and recovered at control, hit
rates per lane and per profile, and the model's precision week by week.

Every figure comes from ``avance.reports`` (its cache makes a warm page cheap); this module reads
the filters of a GET form, draws the charts with ``avance.reports.svg`` in the reader's language
and serves each dashboard's CSV file (``<dashboard>.csv`` with the same query).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from avance.auth.access import Action
from avance.kit.errors import Issue, ValidationFailed
from avance.kit.i18n import t
from avance.reports import dashboards as data
from avance.reports import svg
from avance.reports.release_times import DIMENSIONS, LEAD, MEASURES, STAGES, ReleaseQuery, chapter_sections, release_times, release_times_csv
from avance.web.kit import FormState, Formatter, PageFor, PageUser, render
from avance.web.kit import svg as markup

router = APIRouter(include_in_schema=False)

Staff = Annotated[PageUser, PageFor(Action.READ_REPORTS)]

PERIODS = ("day", "week", "month")
LANES = ("green", "blue", "yellow", "red")
MODES = (1, 2, 3, 4, 5, 7, 8, 9)
MAX_SERIES = 8
"""Lines drawn at most on a release-time chart (the table holds every group)."""

DASHBOARDS = ("release-times", "lanes", "revenue", "hit-rates", "precision")


def _sections() -> list[str]:
    order = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI", "XVII", "XVIII", "XIX", "XX", "XXI"]
    known = set(chapter_sections().values())
    return [s for s in order if s in known]


def _csv(text: str, name: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def _day(values: dict[str, str], name: str, issues: list[Issue]) -> date | None:
    text = values.get(name, "")
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        issues.append(Issue(f"/{name}", "schema.date_parsing", {}))
        return None


def _offices(text: str) -> tuple[str, ...]:
    return tuple(o.upper() for o in re.split(r"[,;\s]+", text.strip()) if o)


def _common(request: Request, default_period: str = "week") -> tuple[dict[str, str], list[Issue], dict[str, Any]]:
    """The filters every dashboard shares: dates, offices, period; what was typed, the problems,
    and the parsed values."""
    q = request.query_params
    values = {
        "since": q.get("since", "").strip(),
        "until": q.get("until", "").strip(),
        "office": q.get("office", "").strip(),
        "period": q.get("period", default_period).strip() or default_period,
    }
    issues: list[Issue] = []
    parsed = {"since": _day(values, "since", issues), "until": _day(values, "until", issues), "offices": _offices(values["office"]), "period": values["period"]}
    return values, issues, parsed


def _query_string(request: Request) -> str:
    return request.url.query


def _hours(fmt: Formatter) -> Callable[[float], str]:
    return lambda v: fmt.number(round(v, 1), 1) if v < 10 else fmt.number(round(v))


def _count(fmt: Formatter) -> Callable[[float], str]:
    return lambda v: fmt.number(round(v))


def _share(fmt: Formatter) -> Callable[[float], str]:
    return lambda v: fmt.percent(v, 0)


@router.get("/dashboards")
def overview(request: Request, user: Staff) -> Response:
    return render(request, "dashboards/overview.html", user, dashboards=DASHBOARDS)


# --- release times --------------------------------------------------------------------------------


def _release_query(request: Request) -> tuple[dict[str, str], list[Issue], ReleaseQuery | None, str]:
    values, issues, parsed = _common(request)
    q = request.query_params
    values.update(
        {
            "lane": q.get("lane", "").strip(),
            "mode": q.get("mode", "").strip(),
            "section": q.get("section", "").strip(),
            "by": q.get("by", "").strip(),
            "on_arrival_minutes": q.get("on_arrival_minutes", "60").strip() or "60",
            "stage": q.get("stage", "arrival_to_release").strip() or "arrival_to_release",
        }
    )
    if values["period"] == "none":
        period = None
    else:
        period = values["period"]
    if values["lane"] and values["lane"] not in LANES:
        issues.append(Issue("/lane", "schema.literal_error", {"expected": ", ".join(LANES)}))
    modes: tuple[int, ...] = ()
    if values["mode"]:
        if values["mode"].isdigit() and int(values["mode"]) in MODES:
            modes = (int(values["mode"]),)
        else:
            issues.append(Issue("/mode", "schema.literal_error", {"expected": ", ".join(map(str, MODES))}))
    minutes = 60
    if values["on_arrival_minutes"].isdigit():
        minutes = int(values["on_arrival_minutes"])
    else:
        issues.append(Issue("/on_arrival_minutes", "schema.int_parsing", {}))
    stage = values["stage"] if values["stage"] in MEASURES else "arrival_to_release"
    query = ReleaseQuery(
        since=parsed["since"],
        until=parsed["until"],
        offices=parsed["offices"],
        lanes=(values["lane"],) if values["lane"] in LANES else (),
        modes=modes,
        sections=(values["section"],) if values["section"] else (),
        by=(values["by"],) if values["by"] else (),
        period=period,
        on_arrival_minutes=minutes,
    )
    return values, issues, (None if issues else query), stage


def _group_label(key: Any, lang: str) -> str:
    parts = []
    if key.office is not None:
        parts.append(key.office)
    if key.lane is not None:
        parts.append(t(f"lane.{key.lane}", lang))
    if key.mode is not None:
        parts.append(t(f"web.dash.mode.{key.mode}", lang))
    if key.section is not None:
        parts.append(t("web.dash.section_label", lang, section=key.section))
    return " · ".join(parts) or t("reports.all", lang)


FIELDS = {"offices": "office", "lanes": "lane", "modes": "mode", "sections": "section", "by": "by"}


@router.get("/dashboards/release-times")
def release_page(request: Request, user: Staff) -> Response:
    values, issues, query, stage = _release_query(request)
    report = None
    if query is not None:
        try:
            with request.app.state.node.engine.connect() as conn:
                report = release_times(conn, query)
        except ValidationFailed as exc:
            issues = exc.issues
    filters = FormState.from_issues(values, issues, user.lang, fields=FIELDS)
    charts: dict[str, Any] = {}
    fmt = Formatter(user.lang)
    totals = sorted(report.totals, key=_group_order) if report is not None else []
    if report is not None:
        measure = t(f"reports.measure.{stage}", user.lang)
        groups = totals[:MAX_SERIES]
        labels = {g.key: _group_label(g.key, user.lang) for g in report.totals}
        if report.query.period is not None and report.series:
            periods = sorted({(s.start, s.period) for s in report.series})
            series = []
            for i, g in enumerate(groups):
                by_period = {s.period: s.measures[stage].median for s in report.series if s.key == g.key}
                values_h = [None if by_period.get(p) is None else by_period[p] / 3600 for _, p in periods]
                series.append(svg.Series(labels[g.key], values_h, f"series-{i % MAX_SERIES}"))
            charts["trend"] = markup(
                svg.line_chart(
                    "rt-trend",
                    t("web.dash.rt.trend_title", user.lang, measure=measure),
                    t("web.dash.rt.trend_desc", user.lang, measure=measure),
                    [p for _, p in periods],
                    series,
                    value_text=_hours(fmt),
                )
            )
        if groups:
            first = groups[0]
            figure = first.measures[stage]
            names = _bucket_names(stage, user.lang)
            charts["histogram"] = markup(
                svg.histogram(
                    "rt-histogram",
                    t("web.dash.rt.histogram_title", user.lang, measure=measure, group=labels[first.key]),
                    t("web.dash.rt.histogram_desc", user.lang, measure=measure),
                    names[: len(figure.histogram)],
                    [b.count for b in figure.histogram],
                    css="series-0",
                    value_text=_count(fmt),
                )
            )
        group_labels = labels
    else:
        group_labels = {}
    return render(
        request,
        "dashboards/release_times.html",
        user,
        status=422 if issues else 200,
        filters=filters,
        report=report,
        totals=totals,
        stage=stage,
        charts=charts,
        labels=group_labels,
        measures=MEASURES,
        stages=STAGES,
        lead=LEAD,
        lanes=LANES,
        modes=MODES,
        sections=_sections(),
        dimensions=DIMENSIONS,
        query=_query_string(request),
    )


def _group_order(group: Any) -> tuple[Any, ...]:
    """Groups by office, then lanes from the lightest control to the strictest, then mode and section."""
    key = group.key
    lane = LANES.index(key.lane) if key.lane in LANES else len(LANES)
    return (key.office or "", lane, key.mode or 0, _sections().index(key.section) if key.section in _sections() else 99)


def _bucket_names(measure: str, lang: str) -> list[str]:
    if measure == LEAD:
        return [t(f"web.dash.lead_bucket.{b}", lang) for b in ("after", "0_1d", "1_2d", "2_3d", "3_7d", "7_14d", "14d_plus")]
    return [t(f"web.dash.bucket.{b}", lang) for b in ("0_1h", "1_2h", "2_4h", "4_8h", "8_24h", "1_2d", "2_3d", "3_7d", "7d_plus")]


def _dashboard_csv(request: Request, compute: Callable[[Any, Any], Any], to_csv: Callable[[Any], str], filename: str) -> Response:
    """A dashboard's table as CSV, for the query of the page's filters (422 page on bad filters)."""
    _, issues, query = _dashboard_query(request)
    if query is None:
        raise ValidationFailed(issues)
    with request.app.state.node.engine.connect() as conn:
        return _csv(to_csv(compute(conn, query)), filename)


@router.get("/dashboards/release-times.csv")
def release_csv(request: Request, user: Staff) -> Response:
    _values, issues, query, _stage = _release_query(request)
    if query is None:
        raise ValidationFailed(issues)
    with request.app.state.node.engine.connect() as conn:
        report = release_times(conn, query)
    return _csv(release_times_csv(report), "release-times.csv")


# --- the other dashboards -------------------------------------------------------------------------


def _dashboard_query(request: Request) -> tuple[dict[str, str], list[Issue], data.DashboardQuery | None]:
    values, issues, parsed = _common(request)
    if issues:
        return values, issues, None
    return values, issues, data.DashboardQuery(since=parsed["since"], until=parsed["until"], offices=parsed["offices"], period=parsed["period"])


def _compute(request: Request, user: PageUser, function: Callable[..., Any]) -> tuple[FormState, Any]:
    values, issues, query = _dashboard_query(request)
    report = None
    if query is not None:
        try:
            with request.app.state.node.engine.connect() as conn:
                report = function(conn, query)
        except ValidationFailed as exc:
            issues = exc.issues
    return FormState.from_issues(values, issues, user.lang, fields={"offices": "office"}), report


def _render(request: Request, user: PageUser, template: str, filters: FormState, report: Any, **context: Any) -> Response:
    return render(request, template, user, status=422 if filters.failed else 200, filters=filters, report=report, query=_query_string(request), **context)


@router.get("/dashboards/lanes")
def lanes_page(request: Request, user: Staff) -> Response:
    filters, report = _compute(request, user, data.lanes_over_time)
    chart = None
    if report is not None:
        fmt = Formatter(user.lang)
        labels = [p[0] for p in report.periods]
        series = [svg.Series(t(f"lane.{lane}", user.lang), [report.count(p, lane) for p in labels], f"lane-{lane}") for lane in report.lanes]
        chart = markup(
            svg.bar_chart("lanes-chart", t("web.dash.lanes.title", user.lang), t("web.dash.lanes.desc", user.lang), labels, series, stacked=True, value_text=_count(fmt))
        )
    return _render(request, user, "dashboards/lanes.html", filters, report, chart=chart)


@router.get("/dashboards/lanes.csv")
def lanes_csv(request: Request, user: Staff) -> Response:
    return _dashboard_csv(request, data.lanes_over_time, data.lanes_csv, "lanes.csv")


@router.get("/dashboards/revenue")
def revenue_page(request: Request, user: Staff) -> Response:
    filters, report = _compute(request, user, data.revenue)
    charts: list[Any] = []
    currencies: list[str] = []
    if report is not None:
        fmt = Formatter(user.lang)
        currencies = sorted({r.currency for r in report.rows})
        for currency in currencies:
            rows = [r for r in report.rows if r.currency == currency]
            series = [
                svg.Series(t("web.dash.revenue.assessed", user.lang), [float(r.assessed) for r in rows], "series-0"),
                svg.Series(t("web.dash.revenue.recovered", user.lang), [float(r.recovered_at_control) for r in rows], "series-1"),
            ]
            charts.append(
                markup(
                    svg.bar_chart(
                        f"revenue-chart-{currency}",
                        t("web.dash.revenue.chart_title", user.lang, currency=currency),
                        t("web.dash.revenue.desc", user.lang),
                        [r.period for r in rows],
                        series,
                        value_text=lambda v: fmt.number(round(v)),
                    )
                )
            )
    return _render(request, user, "dashboards/revenue.html", filters, report, charts=charts, currencies=currencies)


@router.get("/dashboards/revenue.csv")
def revenue_csv(request: Request, user: Staff) -> Response:
    return _dashboard_csv(request, data.revenue, data.revenue_csv, "revenue.csv")


@router.get("/dashboards/hit-rates")
def hit_rates_page(request: Request, user: Staff) -> Response:
    filters, report = _compute(request, user, data.hit_rates)
    charts: dict[str, Any] = {}
    if report is not None:
        fmt = Formatter(user.lang)
        lanes = list(report.lanes)
        charts["lanes"] = markup(
            svg.bar_chart(
                "hit-rate-lanes",
                t("web.dash.hits.lanes_title", user.lang),
                t("web.dash.hits.desc", user.lang),
                [t(f"lane.{h.name}", user.lang) if h.name in LANES else h.name for h in lanes],
                [svg.Series(t("web.dash.hits.hit_rate", user.lang), [None if h.hit_rate is None else float(h.hit_rate) for h in lanes], "series-0")],
                value_text=_share(fmt),
            )
        )
        profiles = [h for h in report.profiles if h.controls][:20]
        if profiles:
            charts["profiles"] = markup(
                svg.bar_chart(
                    "hit-rate-profiles",
                    t("web.dash.hits.profiles_title", user.lang),
                    t("web.dash.hits.desc", user.lang),
                    [h.name for h in profiles],
                    [svg.Series(t("web.dash.hits.hit_rate", user.lang), [None if h.hit_rate is None else float(h.hit_rate) for h in profiles], "series-1")],
                    value_text=_share(fmt),
                )
            )
    return _render(request, user, "dashboards/hit_rates.html", filters, report, charts=charts, lanes=LANES)


@router.get("/dashboards/hit-rates.csv")
def hit_rates_csv(request: Request, user: Staff) -> Response:
    return _dashboard_csv(request, data.hit_rates, data.hit_rates_csv, "hit-rates.csv")


@router.get("/dashboards/precision")
def precision_page(request: Request, user: Staff) -> Response:
    filters, report = _compute(request, user, data.model_precision)
    chart = None
    if report is not None:
        fmt = Formatter(user.lang)
        weeks = list(report.weeks)
        series = [
            svg.Series(t(f"reports.basis.{b}", user.lang), [None if w.by_basis[b].precision is None else float(w.by_basis[b].precision) for w in weeks], f"series-{i}")
            for i, b in enumerate(("model", "random", "profile"))
        ]
        chart = markup(
            svg.line_chart("precision-chart", t("web.dash.precision.title", user.lang), t("web.dash.precision.desc", user.lang), [w.week for w in weeks], series, value_text=_share(fmt))
        )
    return _render(request, user, "dashboards/precision.html", filters, report, chart=chart, bases=data.BASES)


@router.get("/dashboards/precision.csv")
def precision_csv(request: Request, user: Staff) -> Response:
    return _dashboard_csv(request, data.model_precision, data.precision_csv, "model-precision.csv")
