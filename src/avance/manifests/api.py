"""HTTP routes for cargo reports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel

from avance.auth.api import Caller
from avance.kit.http import NodeDep
from avance.manifests import service
from avance.manifests.model import CargoReport
from avance.store.engine import write

router = APIRouter(prefix="/manifests", tags=["manifests"])


class ManifestLodged(BaseModel):
    id: int
    reference: str
    bills_of_lading: int
    location: str


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ManifestLodged, summary="Lodge a cargo report (manifest)")
def lodge(body: CargoReport, node: NodeDep, caller: Caller, response: Response) -> ManifestLodged:
    with write(node.engine) as conn:
        manifest_id, replayed = service.lodge(conn, node.context, body, caller)
    if replayed:
        response.status_code = status.HTTP_200_OK
    return ManifestLodged(id=manifest_id, reference=body.reference, bills_of_lading=len(body.bills_of_lading), location=f"/manifests/{manifest_id}")


@router.get("/{manifest_id}", summary="A cargo report as lodged")
def get_manifest(manifest_id: Annotated[int, Path(ge=1, le=2_147_483_647)], node: NodeDep, caller: Caller) -> dict[str, Any]:
    with node.engine.connect() as conn:
        return service.get(conn, manifest_id, caller)
