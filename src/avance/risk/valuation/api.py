"""HTTP routes of the valuation reference database, under ``/risk/valuation``.

References and the value-control file are confidential: officers, analysts and administrators
read them; analysts and administrators change the overrides; declarants get 403.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from avance.auth.model import Principal, Role
from avance.kit.errors import Forbidden, NotFound, ValidationFailed
from avance.auth.api import Caller
from avance.kit.http import NodeDep
from avance.risk.valuation import service as valuation
from avance.store.engine import write

router = APIRouter(prefix="/risk/valuation", tags=["valuation"])

READERS = frozenset({Role.OFFICER, Role.ANALYST, Role.ADMIN})
WRITERS = frozenset({Role.ANALYST, Role.ADMIN})
OverrideId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Override id")]


def _may(caller: Principal, roles: frozenset[Role]) -> None:
    if caller.role not in roles:
        raise Forbidden("forbidden.role", role=caller.role.value)


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


@router.get("/reference", summary="The reference a line's unit value is compared with (officer, analyst, admin)")
def get_reference(
    node: NodeDep,
    caller: Caller,
    hs: Annotated[str, Query(pattern=r"^[0-9]{4,10}$", description="HS code, 4 to 10 digits")],
    origin: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2 origin")] = None,
    unit: Annotated[str, Query(pattern=r"^[A-Z0-9]{1,3}$", description="UN/ECE Rec. 20 unit; KGM is the net mass")] = valuation.KGM,
    on: Annotated[date | None, Query(description="Date the overrides must be in force (default: today)")] = None,
) -> dict[str, Any]:
    _may(caller, READERS)
    on = on or datetime.now(timezone.utc).date()
    with node.engine.connect() as conn:
        index = valuation.ValuationIndex.load(conn, hs=hs)
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


def _level(index: valuation.ValuationIndex, ref: valuation.Reference) -> dict[str, Any]:
    stats = index.stats(ref.level, ref.hs, ref.origin, ref.unit)
    found = stats.to_dict() if stats is not None else {}
    return found | {"low": valuation.plain(ref.low), "high": valuation.plain(ref.high), "sufficient": ref.sufficient}


@router.get("/snapshot", summary="When the references were built, and how many per level (officer, analyst, admin)")
def get_snapshot(node: NodeDep, caller: Caller) -> dict[str, Any]:
    _may(caller, READERS)
    with node.engine.connect() as conn:
        info = valuation.snapshot_info(conn)
    if info is None:
        raise NotFound("valuation.no_snapshot")
    return info


@router.get("/overrides", summary="The value-control file (officer, analyst, admin)")
def list_overrides(
    node: NodeDep,
    caller: Caller,
    hs: Annotated[str | None, Query(pattern=r"^[0-9]{1,10}$", description="Lines covering this code or beneath it")] = None,
    on: Annotated[date | None, Query(description="Only the lines in force on this date")] = None,
) -> dict[str, Any]:
    _may(caller, READERS)
    with node.engine.connect() as conn:
        found = valuation.list_overrides(conn, hs=hs, on=on)
    return {"items": [o.to_dict() for o in found], "total": len(found)}


@router.get(
    "/overrides/export",
    summary="The value-control file as CSV (officer, analyst, admin)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_overrides(node: NodeDep, caller: Caller) -> Response:
    _may(caller, READERS)
    with node.engine.connect() as conn:
        text = valuation.overrides_csv(valuation.list_overrides(conn))
    return Response(text, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": 'attachment; filename="valuation-overrides.csv"'})


@router.post(
    "/overrides/import",
    summary="Load a value-control file (CSV body; analyst, admin): all lines or none",
    description="Columns hs,origin,unit,min,max,valid_from,valid_to,note. A line with the HS prefix, origin, unit and "
    "start date of a stored override replaces it; `replace=true` replaces the whole file. One bad line rejects the "
    "file (422, every bad line listed with its number).",
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}},
)
async def import_overrides(request: Request, node: NodeDep, caller: Caller, replace: bool = False) -> dict[str, Any]:
    _may(caller, WRITERS)
    text = await request.body()

    def store() -> valuation.ImportResult:  # checked and stored off the event loop
        overrides = valuation.parse_overrides_csv(text, author=caller.name)
        with write(node.engine) as conn:
            return valuation.import_overrides(conn, overrides, replace_all=replace)

    result = await run_in_threadpool(store)
    node.reload_valuation()
    return {"created": result.created, "replaced": result.replaced, "removed": result.removed}


@router.get("/overrides/{override_id}", summary="One line of the value-control file (officer, analyst, admin)")
def get_override(override_id: OverrideId, node: NodeDep, caller: Caller) -> dict[str, Any]:
    _may(caller, READERS)
    with node.engine.connect() as conn:
        return valuation.get_override(conn, override_id).to_dict()


@router.post(
    "/overrides",
    status_code=status.HTTP_201_CREATED,
    summary="Set bounds on a line's unit value (analyst, admin)",
    description="201 when new; 200 when it replaces the override with the same HS prefix, origin, unit and start date.",
    responses={200: {"description": "An override with the same key was replaced."}},
)
def set_override(body: OverrideBody, node: NodeDep, caller: Caller, response: Response) -> dict[str, Any]:
    _may(caller, WRITERS)
    override, issues = valuation.override_from_fields(_fields(body), author=caller.name)
    if override is None:
        raise ValidationFailed(issues)
    with write(node.engine) as conn:
        stored, created = valuation.set_override(conn, override)
    node.reload_valuation()
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/risk/valuation/overrides/{stored.id}"
    return stored.to_dict()


@router.delete("/overrides/{override_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a line of the value-control file (analyst, admin)")
def delete_override(override_id: OverrideId, node: NodeDep, caller: Caller) -> Response:
    _may(caller, WRITERS)
    with write(node.engine) as conn:
        valuation.remove_override(conn, override_id)
    node.reload_valuation()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
