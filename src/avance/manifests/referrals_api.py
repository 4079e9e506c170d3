"""HTTP routes of pre-loading referrals, under ``/manifests`` (``avance.manifests.referrals``).

An analyst refers a bill (``REFER_CARGO``) and lifts a referral; the carrier that filed the cargo
report reads its own referrals (``READ_DOCUMENTS``, the service keeps it to its own) and answers
them (``ANSWER_REFERRALS``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, status
from pydantic import BaseModel, Field

from avance.auth.access import Action
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.kit.documents import Identifier
from avance.kit.http import NodeDep, TimeText
from avance.manifests import referrals
from avance.manifests.model import ReferralAnswer, ReferralKind, ReferralLift, ReferralRequest, ReferralState
from avance.store.engine import write

router = APIRouter(tags=["referrals"])

ReferralId = Annotated[int, Path(ge=1, le=2_147_483_647)]


class Referral(BaseModel):
    """A referral of a bill of lading before loading, with its state now."""

    id: int
    manifest_id: int
    manifest_reference: str
    transport_document_reference: str
    carrier_id: str
    kind: ReferralKind
    state: ReferralState = Field(description="open, answered, lifted, or expired (open past its deadline)")
    blocks_lodging: bool = Field(description="A do-not-load not lifted: no declaration can be lodged for the bill.")
    reason: str
    deadline: TimeText
    referred_by: str
    referred_at: TimeText
    answer: dict[str, Any] | None = Field(None, description="The carrier's answer: information, screening_result, note.")
    answered_at: TimeText | None = None
    lifted_at: TimeText | None = None
    lift_note: str | None = None


class ReferralPage(BaseModel):
    items: list[Referral]
    total: int


@router.post(
    "/{manifest_id}/bills/{transport_document_reference}/referrals",
    status_code=status.HTTP_201_CREATED,
    response_model=Referral,
    response_model_exclude_none=True,
    summary="Refer a bill of lading before loading: request for information or screening, do not load (analyst)",
)
def refer(
    manifest_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    transport_document_reference: Annotated[Identifier, Path()],
    body: ReferralRequest,
    node: NodeDep,
    caller: Annotated[Principal, Allowed(Action.REFER_CARGO)],
) -> dict[str, Any]:
    with write(node.engine) as conn:
        return referrals.refer(conn, manifest_id, transport_document_reference, body, caller)


@router.get("/referrals", response_model=ReferralPage, response_model_exclude_none=True, summary="Referrals, newest first (a carrier: its own)")
def list_referrals(
    node: NodeDep,
    caller: Annotated[Principal, Allowed(Action.READ_DOCUMENTS)],
    state: ReferralState | None = None,
    kind: ReferralKind | None = None,
    manifest_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    bill: Annotated[Identifier | None, Query(description="A transport document reference")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    with node.engine.connect() as conn:
        items, total = referrals.search(
            conn, caller, state=state, kind=kind, manifest_id=manifest_id, transport_document_reference=bill, limit=page_size, offset=(page - 1) * page_size
        )
    return {"items": items, "total": total}


@router.get("/referrals/{referral_id}", response_model=Referral, response_model_exclude_none=True, summary="A referral (a carrier: its own)")
def get_referral(referral_id: ReferralId, node: NodeDep, caller: Annotated[Principal, Allowed(Action.READ_DOCUMENTS)]) -> dict[str, Any]:
    with node.engine.connect() as conn:
        return referrals.get(conn, referral_id, caller)


@router.post("/referrals/{referral_id}/answer", response_model=Referral, response_model_exclude_none=True, summary="Answer a referral of one's cargo (carrier)")
def answer_referral(referral_id: ReferralId, body: ReferralAnswer, node: NodeDep, caller: Annotated[Principal, Allowed(Action.ANSWER_REFERRALS)]) -> dict[str, Any]:
    with write(node.engine) as conn:
        return referrals.answer(conn, referral_id, body, caller)


@router.post("/referrals/{referral_id}/lift", response_model=Referral, response_model_exclude_none=True, summary="Lift a referral: a do-not-load no longer blocks (analyst)")
def lift_referral(
    referral_id: ReferralId, node: NodeDep, caller: Annotated[Principal, Allowed(Action.REFER_CARGO)], body: Annotated[ReferralLift | None, Body()] = None
) -> dict[str, Any]:
    with write(node.engine) as conn:
        return referrals.lift(conn, referral_id, body or ReferralLift(), caller)
