"""HTTP routes for goods declarations. They only translate HTTP to service calls.

Each route names the action it needs in the role table (``avance.auth.access``); the services
keep what depends on the data (a declarant lodges in its own name and sees its own documents)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from avance.audit import service as audit
from avance.auth.access import Action, may
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.declarations import service
from avance.declarations.lifecycle import FRAUD_KINDS, EventKind, Lifecycle, TimeRules
from avance.declarations.model import GoodsDeclaration
from avance.declarations.schemas import DeclarationDetail, DeclarationPage, LifecycleView, Lodged
from avance.declarations.views import detail_view, money_view, summary_view
from avance.formats import registry
from avance.formats.http import Accepts, lodging_route
from avance.kit.http import Lang, NodeDep, problems
from avance.kit.i18n import t
from avance.store.engine import write

router = APIRouter(prefix="/declarations", tags=["declarations"])

DeclarationId = Annotated[int, Path(ge=1, le=2_147_483_647, description="Declaration id")]
Lodger = Annotated[Principal, Allowed(Action.LODGE)]
Reader = Annotated[Principal, Allowed(Action.READ_DOCUMENTS)]
Officer = Annotated[Principal, Allowed(Action.RECORD_CONTROL)]


class Arrival(BaseModel):
    model_config = ConfigDict(extra="forbid")
    arrived_at: AwareDatetime | None = Field(
        None,
        description="When the goods arrived (default: now): not later than now (give or take the node's clock-skew allowance), "
        "not more than the node's arrival_past_days before the lodging.",
    )


class InspectionResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fraud_found: bool
    fraud_kinds: list[Literal[FRAUD_KINDS]] = Field(default_factory=list)  # type: ignore[valid-type]
    extra_duty: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4, allow_inf_nan=False)] = Decimal(0)
    findings: Annotated[str, Field(max_length=2000)] | None = None


class Payment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Annotated[
        Decimal,
        Field(ge=0, max_digits=18, decimal_places=4, allow_inf_nan=False, description="Paid now: all or part of what is still due, more than 0, never more."),
    ]
    receipt: Annotated[str, Field(min_length=1, max_length=35, description="The receipt number: used once on this node.")]


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


def sees_risk(caller: Principal) -> bool:
    """Whoever may read risk information sees scores and reasons; declarants see their lane."""
    return may(caller, Action.READ_RISK)


def _life(declaration_id: int, life: Lifecycle, lang: str) -> LifecycleView:
    return LifecycleView(
        id=declaration_id,
        status=life.status.value,
        status_label=t(f"status.{life.status.value}", lang),
        lane=life.lane,
        events=[k.value for k in sorted(life.at, key=lambda k: life.at[k])],
        **money_view(life),
    )


def _with_expected_arrival(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    with request.app.state.node.engine.connect() as conn:
        return service.with_expected_arrival(conn, body)


@lodging_route(
    router,
    "",
    Accepts("declaration", xml=(registry.WCO_XML, registry.ASYCUDA), edifact=True, complete=_with_expected_arrival),
    status_code=status.HTTP_201_CREATED,
    response_model=Lodged,
    summary="Lodge a goods declaration (pre-arrival allowed)",
    description="Sent as Avance JSON, as WCO DM DEC or ASYCUDA World SAD XML (`application/xml`), or as a UN/EDIFACT "
    "CUSDEC (`application/edifact`), holding one declaration; an XML or EDIFACT request is answered with a WCO RES or "
    "CUSRES message (and its errors too when `Accept` asks for that format). "
    "201 when stored. Sending the same document again (a retry after a lost answer) "
    "returns the declaration stored the first time with 200; the same LRN with another document is refused (422). "
    "409 when its consignment is already declared by an open declaration (`consignment.already_declared`) or "
    "exceeds what is left of its bill of lading (`consignment.exceeds_balance`).",
    responses={
        200: {"description": "The same document was already lodged: nothing new was stored.", "model": Lodged},
        **problems(409),
    },
)
def lodge(body: GoodsDeclaration, node: NodeDep, caller: Lodger, lang: Lang, response: Response) -> Lodged:
    with write(node.engine) as conn:
        lodging = service.lodge(conn, node.context, body, caller)
        record = service.get(conn, lodging.id, caller)
    if lodging.replayed:
        response.status_code = status.HTTP_200_OK
    declaration_id = lodging.id
    view = detail_view(record, lang, risk=sees_risk(caller))
    response.headers["Location"] = f"/declarations/{declaration_id}"
    return Lodged(
        id=declaration_id,
        lrn=body.lrn,
        status=view["status"],
        lane=view["lane"],
        lane_label=view["lane_label"],
        duty_total=view["duty_total"],
        currency=view["currency"],
        reasons=view.get("reasons"),
        location=f"/declarations/{declaration_id}",
    )


@router.get("", response_model=DeclarationPage, response_model_exclude_unset=True, summary="List declarations (filter and paginate)")
def list_declarations(
    node: NodeDep,
    caller: Reader,
    lang: Lang,
    status_: Annotated[Literal[tuple(k.value for k in EventKind if k is not EventKind.SUPPLEMENT)] | None, Query(alias="status")] = None,  # type: ignore[valid-type]
    lane: Literal["green", "blue", "yellow", "red"] | None = None,
    office_code: Annotated[str | None, Query(max_length=35)] = None,
    importer_id: Annotated[str | None, Query(max_length=35)] = None,
    declarant_id: Annotated[str | None, Query(max_length=35)] = None,
    lrn: Annotated[str | None, Query(max_length=35)] = None,
    registered_from: date | None = None,
    registered_to: date | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    filters = service.Filters(status_, lane, office_code, importer_id, declarant_id, lrn, registered_from, registered_to)
    with node.engine.connect() as conn:
        rows, total = service.search(conn, caller, filters, page=page, page_size=page_size)
    return {"items": [summary_view(r, lang, risk=sees_risk(caller)) for r in rows], "page": page, "page_size": page_size, "total": total}


@router.get(
    "/{declaration_id}",
    response_model=DeclarationDetail,
    response_model_exclude_unset=True,
    summary="A declaration with its status, duties, lane, reasons and events",
)
def get_declaration(declaration_id: DeclarationId, node: NodeDep, caller: Reader, lang: Lang) -> dict[str, Any]:
    with node.engine.connect() as conn:
        view = detail_view(service.get(conn, declaration_id, caller), lang, risk=sees_risk(caller))
        if sees_risk(caller):  # what other capabilities add (the partner's export data, as mirror control compared it)
            audit.record_read(node.engine, caller, "risk.declaration", f"/declarations/{declaration_id}")  # lane reasons and scores: confidential
            for key, annex in node.context.annexes:
                view[key] = annex(conn, declaration_id, lang)
        return view


@router.post("/{declaration_id}/arrival", response_model=LifecycleView, responses=problems(409, 422), summary="Record the goods' arrival (officer)")
def arrival(declaration_id: DeclarationId, node: NodeDep, caller: Officer, lang: Lang, body: Arrival | None = None) -> LifecycleView:
    with write(node.engine) as conn:
        life = service.record_arrival(conn, declaration_id, caller, arrived_at=body.arrived_at if body else None, rules=TimeRules.of(node.context))
    return _life(declaration_id, life, lang)


@router.post("/{declaration_id}/inspection-result", response_model=LifecycleView, responses=problems(409, 422), summary="Record a control's findings (officer)")
def inspection_result(declaration_id: DeclarationId, body: InspectionResult, node: NodeDep, caller: Officer, lang: Lang) -> LifecycleView:
    with write(node.engine) as conn:
        life = service.record_inspection(
            conn, declaration_id, caller, fraud_found=body.fraud_found, fraud_kinds=body.fraud_kinds, extra_duty=body.extra_duty, findings=body.findings,
            rules=TimeRules.of(node.context),
        )
    return _life(declaration_id, life, lang)


@router.post(
    "/{declaration_id}/payment",
    response_model=LifecycleView,
    responses=problems(409, 422),
    summary="Record a payment of duties and taxes, whole or in part (officer)",
    description="Payments in parts are summed; a payment beyond what is still due (with the supplementary assessments) "
    "is refused (409 payments.overpaid), and so is a receipt number already used on this node (409 payments.receipt_used). "
    "After release, payments go against the importer's debts (GET /debts).",
)
def payment(declaration_id: DeclarationId, body: Payment, node: NodeDep, caller: Officer, lang: Lang) -> LifecycleView:
    with write(node.engine) as conn:
        life = service.record_payment(conn, declaration_id, caller, amount=body.amount, receipt=body.receipt, rules=TimeRules.of(node.context))
    return _life(declaration_id, life, lang)


@router.post("/{declaration_id}/release", response_model=LifecycleView, responses=problems(409, 422), summary="Release the goods (officer)")
def release(declaration_id: DeclarationId, node: NodeDep, caller: Officer, lang: Lang) -> LifecycleView:
    with write(node.engine) as conn:
        life = service.record_release(conn, declaration_id, caller, rules=TimeRules.of(node.context))
    return _life(declaration_id, life, lang)


@router.post("/{declaration_id}/rejection", response_model=LifecycleView, responses=problems(409, 422), summary="Reject (invalidate) a lodged declaration (officer)")
def rejection(declaration_id: DeclarationId, body: Rejection, node: NodeDep, caller: Officer, lang: Lang) -> LifecycleView:
    with write(node.engine) as conn:
        life = service.record_rejection(conn, declaration_id, caller, reason=body.reason, rules=TimeRules.of(node.context))
    return _life(declaration_id, life, lang)
