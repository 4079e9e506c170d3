"""HTTP routes of export-import matching (``/matching``) and transit (``/transits``).

They only translate HTTP to calls of the services and views of ``avance.movements.matching`` and
``avance.movements.transit``.
Officers, analysts and administrators read movements (``READ_MOVEMENTS`` in the role table);
officers and administrators send notices and record transits (``SEND_MOVEMENTS``), which the
transit service checks too, whoever calls it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status

from avance.auth.access import Action
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.movements.matching import service as matching
from avance.movements.matching import views as matching_views
from avance.movements.matching.model import policy_from
from avance.movements.schemas import (
    GuaranteeBalances,
    PendingNotifications,
    MirrorControl,
    NoticePage,
    NoticeSent,
    NoticeView,
    Registered,
    StatusView,
    TransitDetail,
    TransitPage,
)
from avance.revenue.context import reference_context
from avance.movements.payloads import MRN_PATTERN, ExportDeclarationNotice
from avance.formats import registry
from avance.formats.http import Accepts, lodging_route
from avance.kit.http import Lang, NodeDep, problems
from avance.kit.i18n import t
from avance.movements.transit import service as transit
from avance.movements.transit import views as transit_views
from avance.movements.transit.model import ArrivalRecord, DischargeRecord, PassageRecord, TransitRegistration
from avance.store.engine import write

router = APIRouter()
matching_router = APIRouter(prefix="/matching", tags=["matching"])
transit_router = APIRouter(prefix="/transits", tags=["transit"])

DeclarationId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Import declaration id")]
NoticeId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Export notice id")]
Mrn = Annotated[str, Path(pattern=MRN_PATTERN, description="Movement reference number")]
PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=200)]
Reader = Annotated[Principal, Allowed(Action.READ_MOVEMENTS)]
Sender = Annotated[Principal, Allowed(Action.SEND_MOVEMENTS)]


# --- matching ------------------------------------------------------------------------------------


@lodging_route(
    matching_router,
    "/export-notices",
    Accepts("export_notice", xml=(registry.WCO_XML,), edifact=True),
    status_code=status.HTTP_201_CREATED,
    response_model=NoticeSent,
    summary="Send an export declaration to the importing country's node for matching (officer)",
    description="Sent as Avance JSON, as a WCO DM DEC export declaration (`application/xml`) or as a UN/EDIFACT export "
    "CUSDEC (`application/edifact`), answered in the request's format (WCO RES, CUSRES). "
    "The export declaration of this administration is stored and queued, in one transaction, to the partner "
    "node of its destination country, which matches it with its import declaration and answers with a match result. "
    "Sending the same notice again returns the first one (200).",
    responses={200: {"description": "The same notice was already sent: nothing new was queued.", "model": NoticeSent}, **problems(409)},
)
def send_export_notice(body: ExportDeclarationNotice, node: NodeDep, caller: Sender, response: Response) -> NoticeSent:
    with write(node.engine) as conn:
        sent = matching.send_notice(conn, node.context, body)
    if sent.replayed:
        response.status_code = status.HTTP_200_OK
    location = f"/matching/results/{sent.id}"
    response.headers["Location"] = location
    return NoticeSent(id=sent.id, export_reference=body.export_declaration_reference, message_id=sent.message_id, outcome="pending", location=location)


@matching_router.get("/results", response_model=NoticePage, summary="Export notices and their matching outcomes (officer, analyst)")
def list_results(
    node: NodeDep,
    caller: Reader,
    lang: Lang,
    outcome: Literal["pending", "conforme", "non_conforme", "non_retrouvee"] | None = None,
    direction: Literal["received", "sent"] | None = None,
    page: PageNumber = 1,
    page_size: PageSize = 50,
) -> dict[str, Any]:
    with node.engine.connect() as conn:
        rows, total = matching.search(conn, outcome=outcome, direction=direction, page=page, page_size=page_size)
    return {"items": [matching_views.summary(r, lang) for r in rows], "page": page, "page_size": page_size, "total": total}


@matching_router.get(
    "/results/{notice_id}",
    response_model=NoticeView,
    response_model_exclude_unset=True,
    summary="One export notice with its outcome, gaps and revenue gap (officer, analyst)",
)
def get_result(notice_id: NoticeId, node: NodeDep, caller: Reader, lang: Lang) -> dict[str, Any]:
    policy = policy_from(node.settings)
    with node.engine.connect() as conn:
        return matching_views.notice_view(matching.get_notice(conn, notice_id), lang, policy)


@matching_router.get(
    "/declarations/{declaration_id}",
    response_model=MirrorControl,
    response_model_exclude_unset=True,
    summary="The mirror control of an import declaration (officer, analyst)",
)
def declaration_matching(declaration_id: DeclarationId, node: NodeDep, caller: Reader, lang: Lang) -> dict[str, Any]:
    policy = policy_from(node.settings)
    with node.engine.connect() as conn:
        return matching.annex(conn, declaration_id, lang, policy)


@matching_router.post(
    "/declarations/{declaration_id}/match",
    summary="Match an import declaration now, or compare it again with its export notice (officer)",
    description="For declarations lodged before their export notice was matched (bulk imports) or after a rate change. "
    "A non-conforming outcome raises the lane (never lowers it) and the result is sent to the exporting node.",
    response_model=MirrorControl,
    response_model_exclude_unset=True,
)
def match_now(declaration_id: DeclarationId, node: NodeDep, caller: Sender, lang: Lang) -> dict[str, Any]:
    policy = policy_from(node.settings)
    with write(node.engine) as conn:
        matching.for_declaration(conn, declaration_id)  # 404 when there is no such declaration
        # rates read now, so that a rate loaded while the node runs (avance rates load) applies
        matching.rematch(conn, reference_context(conn, node.settings), declaration_id, policy=policy)
        return matching.annex(conn, declaration_id, lang, policy)


# --- transit ------------------------------------------------------------------------------------


@transit_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Registered,
    summary="Register a transit declaration at the office of departure (officer)",
    description="Gives the movement its MRN and queues the transit declaration, in the same transaction, to the node of "
    "every country on the itinerary and of the destination. Sending the same registration (principal and LRN) again "
    "returns the first one (200); the same LRN with other content is a conflict (409).",
    responses={200: {"description": "The same registration was already recorded.", "model": Registered}, **problems(409)},
)
def register_transit(body: TransitRegistration, node: NodeDep, caller: Sender, lang: Lang, response: Response) -> Registered:
    with write(node.engine) as conn:
        registration = transit.register(conn, node.context, body, caller)  # type: ignore[arg-type]
        row = transit.get(conn, registration.mrn)[0]
    if registration.replayed:
        response.status_code = status.HTTP_200_OK
    location = f"/transits/{registration.mrn}"
    response.headers["Location"] = location
    return Registered(mrn=registration.mrn, status=row["status"], status_label=t(f"transit.status.{row['status']}", lang), location=location)


@transit_router.get("", response_model=TransitPage, summary="Transit movements known to this node; status=overdue lists late ones (officer, analyst)")
def list_transits(
    node: NodeDep,
    caller: Reader,
    lang: Lang,
    status_: Annotated[Literal["registered", "in_transit", "arrived", "discharged", "overdue"] | None, Query(alias="status")] = None,
    role: Literal["departure", "en_route", "destination"] | None = None,
    principal_id: Annotated[str | None, Query(max_length=35)] = None,
    page: PageNumber = 1,
    page_size: PageSize = 50,
) -> dict[str, Any]:
    with node.engine.connect() as conn:
        rows, total = transit.search(conn, status=status_, role=role, principal_id=principal_id, page=page, page_size=page_size)
    return {"items": [transit_views.summary(r, lang) for r in rows], "page": page, "page_size": page_size, "total": total}


@transit_router.get("/guarantees", response_model=GuaranteeBalances, summary="Amount held per guarantee for open movements registered here (officer, analyst)")
def guarantees(node: NodeDep, caller: Reader, principal: Annotated[str | None, Query(max_length=35)] = None) -> dict[str, Any]:
    with node.engine.connect() as conn:
        balances = transit.guarantee_balances(conn, principal_id=principal)
    return {
        "items": [
            b.to_dict()
            for b in balances
        ]
    }


@transit_router.get(
    "/pending",
    response_model=PendingNotifications,
    summary="Notifications held for movements this node does not know yet (officer, analyst)",
    description="A passage, arrival or discharge notified by a partner before the transit declaration reached this node is held, "
    "not recorded; it is applied (or refused) when the declaration arrives. all=true also lists those since settled.",
)
def pending_notifications(node: NodeDep, caller: Reader, lang: Lang, all_: Annotated[bool, Query(alias="all")] = False) -> dict[str, Any]:
    with node.engine.connect() as conn:
        rows = transit.pending_notifications(conn, state=None if all_ else "pending")
    return {"items": [transit_views.pending_view(r, lang) for r in rows]}


@transit_router.get("/{mrn}", response_model=TransitDetail, summary="A movement with its events and alert (officer, analyst)")
def get_transit(mrn: Mrn, node: NodeDep, caller: Reader, lang: Lang) -> dict[str, Any]:
    with node.engine.connect() as conn:
        row, events, alert = transit.get(conn, mrn)
    return transit_views.detail(row, events, alert, lang)


def _status(mrn: str, value: str, lang: str) -> StatusView:
    return StatusView(mrn=mrn, status=value, status_label=t(f"transit.status.{value}", lang))


@transit_router.post("/{mrn}/passage", response_model=StatusView, responses=problems(409), summary="Confirm passage at an office of passage of this node (officer)")
def passage(mrn: Mrn, body: PassageRecord, node: NodeDep, caller: Sender, lang: Lang) -> StatusView:
    with write(node.engine) as conn:
        value = transit.record_passage(conn, node.context, mrn, body, caller)  # type: ignore[arg-type]
    return _status(mrn, value, lang)


@transit_router.post("/{mrn}/arrival", response_model=StatusView, responses=problems(409), summary="Confirm arrival at the office of destination, and discharge at once if asked (officer)")
def arrival(mrn: Mrn, node: NodeDep, caller: Sender, lang: Lang, body: ArrivalRecord | None = None) -> StatusView:
    with write(node.engine) as conn:
        value = transit.record_arrival(conn, node.context, mrn, body or ArrivalRecord(), caller)  # type: ignore[arg-type]
    return _status(mrn, value, lang)


@transit_router.post("/{mrn}/discharge", response_model=StatusView, responses=problems(409), summary="Discharge the movement: the departure node releases the guarantee (officer)")
def discharge(mrn: Mrn, node: NodeDep, caller: Sender, lang: Lang, body: DischargeRecord | None = None) -> StatusView:
    with write(node.engine) as conn:
        value = transit.discharge(conn, node.context, mrn, body or DischargeRecord(), caller)  # type: ignore[arg-type]
    return _status(mrn, value, lang)


router.include_router(matching_router)
router.include_router(transit_router)
