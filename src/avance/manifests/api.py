"""HTTP routes for cargo reports. They only translate HTTP to service calls.

Lodging is the role table's ``LODGE`` and reading its ``READ_DOCUMENTS``; the service keeps what
depends on the data (a carrier reports and sees its own cargo only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field

from avance.auth.access import Action
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.kit.http import NodeDep, TimeText
from avance.manifests import service
from avance.manifests.model import CargoReport
from avance.store.engine import write

router = APIRouter(prefix="/manifests", tags=["manifests"])


class ManifestLodged(BaseModel):
    id: int
    reference: str
    bills_of_lading: int
    location: str


class Discrepancy(BaseModel):
    """A bill whose declarations, lodged before its cargo report, cleared more than it carries."""

    transport_document_reference: str
    packages_on_bill: int
    packages_declared: int
    gross_mass_on_bill: str = Field(description="kg, as reported by the carrier")
    gross_mass_declared: str = Field(description="kg, the sum of the declarations' goods items")
    declarations: int = Field(description="How many open declarations wrote the bill off")
    recorded_at: TimeText


class ListedDiscrepancy(BaseModel):
    manifest_id: int
    manifest_reference: str
    transport_document_reference: str
    packages_on_bill: int
    packages_declared: int
    gross_mass_on_bill: str
    gross_mass_declared: str
    declaration_ids: list[int]
    recorded_at: TimeText


class DiscrepancyPage(BaseModel):
    items: list[ListedDiscrepancy]
    total: int


class ManifestView(BaseModel):
    """A cargo report as lodged, with what the node indexed of it."""

    id: int
    reference: str
    carrier_id: str
    office_code: str
    estimated_arrival: TimeText
    lodged_at: TimeText
    manifest: dict[str, Any] = Field(description="The cargo report as lodged (CargoReport).")
    discrepancies: list[Discrepancy] | None = Field(
        None, description="Bills its earlier declarations cleared beyond what it carries (customs staff only)."
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ManifestLodged,
    summary="Lodge a cargo report (manifest)",
    responses={200: {"description": "The same cargo report was already lodged: nothing new was stored.", "model": ManifestLodged}},
)
def lodge(body: CargoReport, node: NodeDep, caller: Annotated[Principal, Allowed(Action.LODGE)], response: Response) -> ManifestLodged:
    with write(node.engine) as conn:
        manifest_id, replayed = service.lodge(conn, node.context, body, caller)
    if replayed:
        response.status_code = status.HTTP_200_OK
    return ManifestLodged(id=manifest_id, reference=body.reference, bills_of_lading=len(body.bills_of_lading), location=f"/manifests/{manifest_id}")


@router.get(
    "/discrepancies",
    response_model=DiscrepancyPage,
    summary="Bills declared beyond what their cargo report carries, newest first (customs staff)",
)
def list_discrepancies(
    node: NodeDep,
    caller: Annotated[Principal, Allowed(Action.READ_RISK)],
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DiscrepancyPage:
    with node.engine.connect() as conn:
        items, total = service.discrepancies(conn, caller, limit=page_size, offset=(page - 1) * page_size)
    return DiscrepancyPage(items=[ListedDiscrepancy(**i) for i in items], total=total)


@router.get("/{manifest_id}", response_model=ManifestView, response_model_exclude_none=True, summary="A cargo report as lodged")
def get_manifest(
    manifest_id: Annotated[int, Path(ge=1, le=2_147_483_647)], node: NodeDep, caller: Annotated[Principal, Allowed(Action.READ_DOCUMENTS)]
) -> dict[str, Any]:
    with node.engine.connect() as conn:
        return service.get(conn, manifest_id, caller)
