"""HTTP route of the write-off report (apurement du manifeste), under ``/manifests``
(``avance.manifests.writeoff``), for customs staff (``READ_REPORTS``)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from avance.auth.access import Action
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.kit.documents import Identifier
from avance.kit.http import Lang, NodeDep, TimeText
from avance.kit.i18n import t
from avance.manifests import writeoff
from avance.manifests.model import FindingKind

router = APIRouter(tags=["manifests"])


class Finding(BaseModel):
    """A bill of lading whose write-off is not as it should be."""

    kind: FindingKind
    label: str = Field(description="What the finding is, in the caller's language.")
    manifest_id: int
    manifest_reference: str
    office_code: str
    transport_document_reference: str
    estimated_arrival: TimeText
    due_by: TimeText = Field(description="Arrival plus the office's write-off days: when the bill should be declared in full.")
    consignee_id: str | None = None
    packages_on_bill: int
    packages_declared: int
    gross_mass_on_bill: str = Field(description="kg, as reported by the carrier (latest version)")
    gross_mass_declared: str = Field(description="kg, the sum of the open declarations' goods items")
    declarations: int = Field(description="How many open declarations wrote the bill off")
    importer_ids: list[str] = Field(default_factory=list, description="consignee_mismatch: the declared importers")
    alerted_at: TimeText | None = Field(None, description="When it was raised as an alert (none yet: not raised)")


class WriteOffReport(BaseModel):
    as_of: TimeText
    items: list[Finding]
    total: int


def _day(value: date | None) -> datetime | None:
    return None if value is None else datetime.combine(value, time.min, tzinfo=timezone.utc)


@router.get("/write-off", response_model=WriteOffReport, response_model_exclude_none=True, summary="The write-off report of cargo reports (customs staff)")
def write_off_report(
    node: NodeDep,
    caller: Annotated[Principal, Allowed(Action.READ_REPORTS)],
    language: Lang,
    office: Annotated[Identifier | None, Query(description="An office code")] = None,
    manifest: Annotated[Identifier | None, Query(description="A cargo report's reference")] = None,
    kind: Annotated[list[FindingKind] | None, Query()] = None,
    arrived_from: Annotated[date | None, Query(description="Estimated arrival on or after this day")] = None,
    arrived_to: Annotated[date | None, Query(description="Estimated arrival on or before this day")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    until = _day(arrived_to)
    with node.engine.connect() as conn:
        found = writeoff.report(
            conn, caller, now=now, office=office, manifest_reference=manifest, kinds=kind, arrived_from=_day(arrived_from), arrived_to=until + timedelta(days=1) if until else None
        )
    start = (page - 1) * page_size
    items = [f | {"label": t(f"write_off.kind.{f['kind']}", language)} for f in found[start : start + page_size]]
    return {"as_of": now.isoformat(), "items": items, "total": len(found)}
