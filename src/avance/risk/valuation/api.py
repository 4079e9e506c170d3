"""HTTP routes of the valuation reference database, under ``/risk/valuation``.

References and the value-control file are confidential: officers, analysts and administrators
read them; analysts and administrators change the overrides; declarants get 403 (``READ_RISK`` and
``EDIT_RISK`` in the role table).

The value-control file has two representations: JSON, and the CSV file analysts keep (which the
import reads back), chosen by ``Accept`` or ``?format=csv``.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from avance.audit.api import Recorded
from avance.auth.access import Action
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.kit.errors import NotFound, ValidationFailed
from avance.kit.http import (
    CSV,
    JSON,
    DateText,
    DecimalText,
    Negotiated,
    NodeDep,
    Representation,
    TimeText,
    file_response,
    problem_response,
    representations,
)
from avance.risk.valuation import service as valuation
from avance.risk.valuation.model import KGM, Override, Reference, ValuationIndex, plain
from avance.risk.valuation.overrides_file import override_from_fields, overrides_csv, parse_overrides_csv
from avance.store.engine import write

router = APIRouter(prefix="/risk/valuation", tags=["valuation"])

OverrideId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Override id")]
Reader = Annotated[Principal, Recorded(Action.READ_RISK, "risk.valuation")]  # confidential: each read is in the audit trail
Writer = Annotated[Principal, Allowed(Action.EDIT_RISK)]


class OverrideBody(BaseModel):
    """One line of the value-control file: bounds on the unit value (national currency per unit)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    hs: Annotated[str, Field(max_length=20, description="HS prefix, 4 to 10 digits: covers every longer code beneath it")]
    origin: Annotated[str | None, Field(max_length=10, description="ISO 3166 alpha-2 origin; omitted: every origin")] = None
    unit: Annotated[str | None, Field(max_length=10, description="UN/ECE Rec. 20 unit (KGM: net mass); omitted: whatever the unit")] = None
    minimum: Annotated[Decimal | None, Field(alias="min", description="Lowest acceptable unit value")] = None
    maximum: Annotated[Decimal | None, Field(alias="max", description="Highest acceptable unit value")] = None
    valid_from: date | None = None
    valid_to: date | None = None
    note: Annotated[str | None, Field(max_length=2000)] = None


class OverrideView(BaseModel):
    """One line of the value-control file, as stored (bounds in national currency per unit)."""

    id: int | None
    hs: str = Field(description="HS prefix: covers every longer code beneath it.")
    origin: str | None
    unit: str | None
    min: DecimalText | None = Field(description="Lowest acceptable unit value.")
    max: DecimalText | None = Field(description="Highest acceptable unit value.")
    valid_from: DateText | None
    valid_to: DateText | None
    note: str | None
    author: str
    updated_at: TimeText | None


class OverrideList(BaseModel):
    items: list[OverrideView]
    total: int


class OverridesImported(BaseModel):
    created: int
    replaced: int
    removed: int


class LevelStats(BaseModel):
    """Unit-value statistics of one level (national currency per unit)."""

    level: str = Field(description="hs6_origin, hs6 or hs4.")
    hs: str
    origin: str | None
    unit: str
    n: int = Field(description="Declarations observed.")
    median: DecimalText
    q10: DecimalText
    q25: DecimalText
    q75: DecimalText
    q90: DecimalText
    mad_log: float = Field(description="Median absolute deviation of the logarithm of the unit value.")


class LevelView(BaseModel):
    """A candidate level, with its statistics when it has any, and the bounds it would give."""

    level: str | None = None
    hs: str | None = None
    origin: str | None = None
    unit: str | None = None
    n: int | None = None
    median: DecimalText | None = None
    q10: DecimalText | None = None
    q25: DecimalText | None = None
    q75: DecimalText | None = None
    q90: DecimalText | None = None
    mad_log: float | None = None
    low: DecimalText | None
    high: DecimalText | None
    sufficient: bool = Field(description="Whether it has enough observations to flag a line.")


class ReferenceView(BaseModel):
    level: str = Field(description="override, hs6_origin, hs6 or hs4.")
    hs: str
    origin: str | None
    unit: str
    n: int
    median: DecimalText
    low: DecimalText | None = Field(description="Below it, a line is flagged.")
    high: DecimalText | None = Field(description="An override's maximum (flagged above); a statistical level's robust upper bound (shown only).")
    sufficient: bool
    basis: LevelStats | None = Field(description="The statistics behind an override's median, if any.")
    override: OverrideView | None


class ReferenceLookup(BaseModel):
    hs: str
    origin: str | None
    unit: str
    on: DateText
    currency: str | None
    min_count: int
    k: float
    floor_q10: bool
    reference: ReferenceView
    levels: list[LevelView] = Field(description="Every level tried, most specific first.")


class Snapshot(BaseModel):
    built_at: TimeText
    window_from: DateText | None
    window_to: DateText | None
    min_count: int
    k: float
    floor_q10: bool
    currency: str | None
    references: dict[str, int] = Field(description="References per level.")
    usable: dict[str, int] = Field(description="References per level with enough observations to flag.")


def _fields(body: OverrideBody) -> dict[str, Any]:
    return {
        "hs": body.hs,
        "origin": body.origin,
        "unit": body.unit,
        "min": body.minimum,
        "max": body.maximum,
        "valid_from": body.valid_from,
        "valid_to": body.valid_to,
        "note": body.note,
    }


@router.get(
    "/reference",
    response_model=ReferenceLookup,
    response_model_exclude_unset=True,
    responses={404: problem_response(404, "No reference for this code, origin and unit.")},
    summary="The reference a line's unit value is compared with (officer, analyst, admin)",
)
def get_reference(
    node: NodeDep,
    caller: Reader,
    hs: Annotated[str, Query(pattern=r"^[0-9]{4,10}$", description="HS code, 4 to 10 digits")],
    origin: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2 origin")] = None,
    unit: Annotated[str, Query(pattern=r"^[A-Z0-9]{1,3}$", description="UN/ECE Rec. 20 unit; KGM is the net mass")] = KGM,
    on: Annotated[date | None, Query(description="Date the overrides must be in force (default: today)")] = None,
) -> dict[str, Any]:
    on = on or datetime.now(timezone.utc).date()
    with node.engine.connect() as conn:
        index = valuation.load_index(conn, hs=hs)
    reference = index.reference(hs, origin or "", unit, on)
    if reference is None:
        raise NotFound("valuation.no_reference", hs=hs, origin=origin or "-", unit=unit)
    return {
        "hs": hs,
        "origin": origin,
        "unit": unit,
        "on": on.isoformat(),
        "currency": index.currency,
        "min_count": index.min_count,
        "k": index.k,
        "floor_q10": index.floor_q10,
        "reference": reference.to_dict(),
        "levels": [_level(index, r) for r in index.candidates(hs, origin, unit)],
    }


def _level(index: ValuationIndex, ref: Reference) -> dict[str, Any]:
    stats = index.stats(ref.level, ref.hs, ref.origin, ref.unit)
    found = stats.to_dict() if stats is not None else {}
    return found | {"low": plain(ref.low), "high": plain(ref.high), "sufficient": ref.sufficient}


@router.get(
    "/snapshot",
    response_model=Snapshot,
    responses={404: problem_response(404, "The references were never built (`avance valuation build`).")},
    summary="When the references were built, and how many per level (officer, analyst, admin)",
)
def get_snapshot(node: NodeDep, caller: Reader) -> dict[str, Any]:
    with node.engine.connect() as conn:
        info = valuation.snapshot_info(conn)
    if info is None:
        raise NotFound("valuation.no_snapshot")
    return info


def _csv(found: list[Override]) -> Response:
    return file_response(overrides_csv(found), CSV, "valuation-overrides.csv")


@router.get(
    "/overrides",
    response_model=OverrideList,
    responses=representations(CSV),
    summary="The value-control file, as JSON or as the CSV file (officer, analyst, admin)",
    description="With `Accept: text/csv` or `?format=csv`: the lines as the CSV file `POST /risk/valuation/overrides/import` reads back.",
)
def list_overrides(
    node: NodeDep,
    caller: Reader,
    form: Annotated[Representation, Negotiated(JSON, CSV)],
    hs: Annotated[str | None, Query(pattern=r"^[0-9]{1,10}$", description="Lines covering this code or beneath it")] = None,
    on: Annotated[date | None, Query(description="Only the lines in force on this date")] = None,
) -> Any:
    with node.engine.connect() as conn:
        found = valuation.list_overrides(conn, hs=hs, on=on)
    if form == CSV:
        return _csv(found)
    return {"items": [o.to_dict() for o in found], "total": len(found)}


@router.get(
    "/overrides/export",
    summary="The value-control file as CSV (officer, analyst, admin)",
    description="The same file as `GET /risk/valuation/overrides?format=csv`.",
    response_class=Response,
    responses=representations(CSV),
)
def export_overrides(node: NodeDep, caller: Reader, form: Annotated[Representation, Negotiated(CSV)]) -> Response:
    with node.engine.connect() as conn:
        return _csv(valuation.list_overrides(conn))


@router.post(
    "/overrides/import",
    summary="Load a value-control file (CSV body; analyst, admin): all lines or none",
    description="Columns hs,origin,unit,min,max,valid_from,valid_to,note. A line with the HS prefix, origin, unit and "
    "start date of a stored override replaces it; `replace=true` replaces the whole file. One bad line rejects the "
    "file (422, every bad line listed with its number).",
    response_model=OverridesImported,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
async def import_overrides(request: Request, node: NodeDep, caller: Writer, replace: bool = False) -> dict[str, Any]:
    text = await request.body()

    def store() -> valuation.ImportResult:  # checked and stored off the event loop
        overrides = parse_overrides_csv(text, author=caller.name)
        with write(node.engine) as conn:
            return valuation.import_overrides(conn, overrides, replace_all=replace, actor=caller)

    result = await run_in_threadpool(store)
    node.reload_valuation()
    return {"created": result.created, "replaced": result.replaced, "removed": result.removed}


@router.get("/overrides/{override_id}", response_model=OverrideView, summary="One line of the value-control file (officer, analyst, admin)")
def get_override(override_id: OverrideId, node: NodeDep, caller: Reader) -> dict[str, Any]:
    with node.engine.connect() as conn:
        return valuation.get_override(conn, override_id).to_dict()


@router.post(
    "/overrides",
    status_code=status.HTTP_201_CREATED,
    summary="Set bounds on a line's unit value (analyst, admin)",
    description="201 when new; 200 when it replaces the override with the same HS prefix, origin, unit and start date.",
    response_model=OverrideView,
    responses={200: {"description": "An override with the same key was replaced.", "model": OverrideView}},
)
def set_override(body: OverrideBody, node: NodeDep, caller: Writer, response: Response) -> dict[str, Any]:
    override, issues = override_from_fields(_fields(body), author=caller.name)
    if override is None:
        raise ValidationFailed(issues)
    with write(node.engine) as conn:
        stored, created = valuation.set_override(conn, override, actor=caller)
    node.reload_valuation()
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/risk/valuation/overrides/{stored.id}"
    return stored.to_dict()


@router.delete("/overrides/{override_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a line of the value-control file (analyst, admin)")
def delete_override(override_id: OverrideId, node: NodeDep, caller: Writer) -> Response:
    with write(node.engine) as conn:
        valuation.remove_override(conn, override_id, actor=caller)
    node.reload_valuation()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
