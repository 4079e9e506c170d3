"""HTTP routes for cargo reports. They only translate HTTP to service calls.

Lodging is the role table's ``LODGE`` and reading its ``READ_DOCUMENTS``; the service keeps what
depends on the data (a carrier reports and sees its own cargo only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from avance.auth.access import Action
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.formats.http import Accepts, lodging_route
from avance.kit.http import NodeDep, TimeText
from avance.manifests import service
from avance.manifests.model import CargoReport
from avance.manifests.referrals_api import router as referrals_router
from avance.manifests.reports_api import router as write_off_router
from avance.store.engine import write

router = APIRouter(prefix="/manifests", tags=["manifests"])


class RaisedReferral(BaseModel):
    """A referral a selectivity profile raised on a bill of the cargo report just lodged."""

    id: int
    transport_document_reference: str
    kind: str = Field(description="request_for_information, request_for_screening or do_not_load")
    deadline: TimeText
    blocks_lodging: bool = Field(description="A do-not-load: no declaration can be lodged for the bill until it is lifted.")
    location: str = Field(description="Where to read and answer it.")


class ManifestLodged(BaseModel):
    id: int
    reference: str
    version: int = Field(1, description="The version the cargo report is now at: 1, then one more for each amendment.")
    bills_of_lading: int
    changes: Changes | None = Field(None, description="What this version changed from the one before (an amendment only).")
    location: str
    referrals: list[RaisedReferral] | None = Field(
        None, description="The referrals the selectivity profiles raised on this version's bills (only when there are some)."
    )


class FieldChange(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: Any = Field(alias="from", serialization_alias="from")
    to: Any


class BillChange(BaseModel):
    transport_document_reference: str
    fields: dict[str, FieldChange]


class Changes(BaseModel):
    """What an amendment changed: the report's own fields, the bills added, removed and changed."""

    report: dict[str, FieldChange]
    bills_added: list[str]
    bills_removed: list[str]
    bills_changed: list[BillChange]


class ManifestVersion(BaseModel):
    version: int
    lodged_at: TimeText
    bills_of_lading: int
    changes: Changes | None = Field(None, description="What it changed from the version before (none for the first).")


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
    version: int = Field(description="The latest version (1, then one more for each amendment); the manifest is that version.")
    carrier_id: str
    office_code: str
    estimated_arrival: TimeText
    loaded: bool = Field(description="False while a report filed before loading says the goods are not on board.")
    place_of_loading: str | None = None
    loading_date: TimeText | None = None
    lodged_at: TimeText = Field(description="When the first version was lodged.")
    amended_at: TimeText | None = Field(None, description="When the latest amendment was lodged.")
    manifest: dict[str, Any] = Field(description="The cargo report as lodged in its latest version (CargoReport).")
    discrepancies: list[Discrepancy] | None = Field(
        None, description="Bills its earlier declarations cleared beyond what it carries (customs staff only)."
    )


@lodging_route(
    router,
    "",
    Accepts("cargo_report", edifact=True),
    status_code=status.HTTP_201_CREATED,
    response_model=ManifestLodged,
    summary="Lodge a cargo report (manifest), or amend one",
    description="Sent as Avance JSON or as a UN/EDIFACT CUSCAR (`application/edifact`) holding one cargo report, answered "
    "with a CUSRES interchange for EDIFACT (and its errors too when `Accept` asks for it). "
    "The same reference from the same carrier with another report is an amendment: a new version, "
    "answered 201 with the version and what it changed.",
    responses={200: {"description": "The same cargo report as its latest version: nothing new was stored.", "model": ManifestLodged}},
    response_model_exclude_none=True,
)
def lodge(body: CargoReport, node: NodeDep, caller: Annotated[Principal, Allowed(Action.LODGE_CARGO)], response: Response) -> ManifestLodged:
    screen = getattr(node, "screen_cargo", None)  # the node's cargo profiles (avance.bootstrap.Node); a bare node has none
    with write(node.engine) as conn:
        lodging = service.lodge(conn, node.context, body, caller, screen=screen)
    if lodging.replayed:
        response.status_code = status.HTTP_200_OK
    return ManifestLodged(
        id=lodging.id,
        reference=body.reference,
        version=lodging.version,
        bills_of_lading=len(body.bills_of_lading),
        changes=lodging.changes,  # type: ignore[arg-type]  (validated into Changes)
        location=f"/manifests/{lodging.id}",
        referrals=[
            RaisedReferral(
                id=r["id"],
                transport_document_reference=r["transport_document_reference"],
                kind=r["kind"],
                deadline=r["deadline"],
                blocks_lodging=r["blocks_lodging"],
                location=f"/manifests/referrals/{r['id']}",
            )
            for r in lodging.referrals
        ]
        or None,
    )


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


# before "/{manifest_id}": their paths ("/write-off", "/referrals") would read as an id
router.include_router(write_off_router)
router.include_router(referrals_router)


@router.get("/{manifest_id}", response_model=ManifestView, response_model_exclude_none=True, summary="A cargo report as lodged")
def get_manifest(
    manifest_id: Annotated[int, Path(ge=1, le=2_147_483_647)], node: NodeDep, caller: Annotated[Principal, Allowed(Action.READ_DOCUMENTS)]
) -> dict[str, Any]:
    with node.engine.connect() as conn:
        return service.get(conn, manifest_id, caller)


@router.get("/{manifest_id}/versions", response_model=list[ManifestVersion], response_model_exclude_none=True, summary="The versions of a cargo report, with what each changed")
def list_versions(
    manifest_id: Annotated[int, Path(ge=1, le=2_147_483_647)], node: NodeDep, caller: Annotated[Principal, Allowed(Action.READ_DOCUMENTS)]
) -> list[dict[str, Any]]:
    with node.engine.connect() as conn:
        return service.versions(conn, manifest_id, caller)


@router.get("/{manifest_id}/versions/{version}", response_model=CargoReport, response_model_exclude_none=True, summary="A cargo report as lodged in one of its versions (CargoReport)")
def get_version(
    manifest_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    node: NodeDep,
    caller: Annotated[Principal, Allowed(Action.READ_DOCUMENTS)],
) -> dict[str, Any]:
    with node.engine.connect() as conn:
        return service.version_document(conn, manifest_id, version, caller)
