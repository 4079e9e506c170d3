"""HTTP routes of the reports, under ``/reports``: the release-time figures (WCO Time Release
Study) as JSON or as the CSV file documented in docs/reports.md (``?format=csv`` or
``Accept: text/csv``). Officers, analysts and administrators (``READ_REPORTS``); declarants get 403."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from avance.auth.access import Action
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.kit.http import CSV, JSON, DateText, Negotiated, NodeDep, Representation, TimeText, file_response, representations
from avance.reports.release_times import ReleaseQuery, release_times, release_times_csv, report_dict

router = APIRouter(prefix="/reports", tags=["reports"])

Reader = Annotated[Principal, Allowed(Action.READ_REPORTS)]


class Dimension(str, Enum):
    OFFICE = "office"
    LANE = "lane"
    MODE = "mode"
    SECTION = "section"


class Period(str, Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    NONE = "none"


class BucketView(BaseModel):
    lower_seconds: float | None = Field(description="Lower bound, included (none: unbounded).")
    upper_seconds: float | None = Field(description="Upper bound, excluded (none: unbounded).")
    count: int


class ChangeView(BaseModel):
    """The measure against the previous period of the same length."""

    previous_count: int
    previous_median_seconds: float | None
    median_change_seconds: float | None = Field(description="This median minus the previous one.")
    median_change_ratio: float | None = Field(description="The change as a share of the previous median.")


class FigureView(BaseModel):
    count: int = Field(description="Declarations the measure applies to.")
    median_seconds: float | None
    p90_seconds: float | None = Field(description="90th percentile (linear interpolation between closest ranks).")
    median_hours: float | None
    p90_hours: float | None
    histogram: list[BucketView]
    change: ChangeView | None


class KeyView(BaseModel):
    """The group: the value of each dimension grouped by (null: all)."""

    office: str | None
    lane: str | None
    mode: int | None = Field(description="Transport mode code (UN/ECE Rec. 19).")
    section: str | None = Field(description="HS 2022 section of the first goods item (roman numeral).")


class MeasuresView(BaseModel):
    arrival_to_control: FigureView
    control_to_payment: FigureView
    payment_to_release: FigureView
    arrival_to_release: FigureView
    lodging_to_arrival: FigureView = Field(description="Pre-arrival lead time: negative when lodged after arrival.")


class GroupView(BaseModel):
    key: KeyView
    period: str = Field(description="`2026-W14`, `2026-04`, `2026-04-03`, or `since..until` for the whole range.")
    start: DateText
    end: DateText
    arrived: int = Field(description="Declarations whose goods arrived in the period (rejected ones left out).")
    lodged_before_arrival_share: float | None
    released_on_arrival_share: float | None
    previous_lodged_before_arrival_share: float | None
    previous_released_on_arrival_share: float | None
    measures: MeasuresView


class QueryView(BaseModel):
    since: DateText
    until: DateText
    offices: list[str]
    lanes: list[str]
    modes: list[int]
    sections: list[str]
    by: list[str]
    period: str | None
    on_arrival_minutes: int


class ReleaseReportView(BaseModel):
    """Release-time figures: per group over the whole range (against the previous range of the same
    length), and per period (each against the period before it)."""

    query: QueryView
    previous_since: DateText
    previous_until: DateText
    computed_at: TimeText
    totals: list[GroupView]
    series: list[GroupView]


@router.get(
    "/release-times",
    response_model=ReleaseReportView,
    responses=representations(CSV),
    summary="Release times (WCO Time Release Study), as JSON or CSV (officer, analyst, admin)",
    description="Per stage (arrival to control, control to payment, payment to release, arrival to release) and the "
    "pre-arrival lead time: count, median, 90th percentile, distribution; shares lodged before arrival and released on "
    "arrival; the change from the previous period. With `?format=csv` or `Accept: text/csv`: one line per group, period "
    "and measure (columns in docs/reports.md).",
)
def get_release_times(
    node: NodeDep,
    caller: Reader,
    form: Annotated[Representation, Negotiated(JSON, CSV)],
    since: Annotated[date | None, Query(description="First day (UTC), included; default: 29 days before `until`")] = None,
    until: Annotated[date | None, Query(description="Last day (UTC), included; default: today")] = None,
    office: Annotated[list[str] | None, Query(max_length=50, description="Only these offices (repeat the parameter)")] = None,
    lane: Annotated[list[str] | None, Query(max_length=4, description="Only these lanes")] = None,
    mode: Annotated[list[Annotated[int, Field(ge=0, le=9)]] | None, Query(max_length=10, description="Only these transport modes (UN/ECE Rec. 19 codes, 0 to 9)")] = None,
    section: Annotated[list[str] | None, Query(max_length=21, description="Only these HS sections (I to XXI)")] = None,
    by: Annotated[list[Dimension] | None, Query(max_length=4, description="Group by these dimensions")] = None,
    period: Annotated[Period, Query(description="Cut the range into days, ISO weeks or months; `none`: the range only")] = Period.WEEK,
    on_arrival_minutes: Annotated[int, Query(ge=0, le=7 * 24 * 60, description="Released on arrival: within this many minutes of it")] = 60,
) -> Any:
    query = ReleaseQuery(
        since=since,
        until=until,
        offices=tuple(office or ()),
        lanes=tuple(lane or ()),
        modes=tuple(mode or ()),
        sections=tuple(section or ()),
        by=tuple(d.value for d in by or ()),
        period=None if period is Period.NONE else period.value,
        on_arrival_minutes=on_arrival_minutes,
    )
    with node.engine.connect() as conn:
        report = release_times(conn, query)
    if form == CSV:
        q = report.query
        return file_response(release_times_csv(report), CSV, f"release-times-{q.since}-{q.until}.csv")
    return report_dict(report)
