"""The officer's pages: the office work queue, a declaration with its actions (arrival, control
result, payment, release, rejection), cargo reports and a voyage's arrival, the printable release
note (bon à enlever) and control report, and the gate's verification of a release note.

Every action calls the service function the API route of the same action calls, with the body
checked by the API's own model: same rules, same messages. ``/verify`` is for signed-in customs
staff (a gate agent has an officer's login): a release note's number tells no one outside customs
anything, but the page shows the importer and the containers.
"""

from __future__ import annotations

import math
from urllib.parse import quote, urlencode
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Callable, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

from avance.auth.access import Action
from avance.declarations import cargo, release_notes, service
from avance.declarations.api import Arrival, InspectionResult, Payment, Rejection
from avance.declarations.assessment import Lane
from avance.declarations.lifecycle import CONTROLLED_LANES, FRAUD_KINDS, EventKind, TimeRules
from avance.declarations.queue import QueueFilters, queue
from avance.declarations.views import detail_view
from avance.kit import formatting
from avance.kit.errors import Conflict, Issue, NotFound, ValidationFailed
from avance.kit.i18n import t
from avance.kit.validation import parse
from avance.store.engine import write
from avance.web.kit import FormState, Page, PageFor, PageUser, form, render, see_other

PAGE_SIZE = 50
DeclarationId = Annotated[int, Path(ge=1, le=2_147_483_647)]
ManifestId = Annotated[int, Path(ge=1, le=2_147_483_647)]
Officer = Annotated[PageUser, PageFor(Action.RECORD_CONTROL)]
Staff = Annotated[PageUser, PageFor(Action.READ_RISK)]

LANES = [lane.value for lane in sorted(Lane, key=lambda lane: -lane.severity)]
STATUSES = [k.value for k in EventKind if k not in (EventKind.SUPPLEMENT, EventKind.ASSESSED, EventKind.LODGED)]
DONE = ("arrival", "control", "payment", "release", "rejection")


class BrowserRoute(APIRoute):
    """A page at the address of an API resource (``GET /declarations/{id}``): it takes only a
    browser's request (one asking for ``text/html`` and carrying no bearer token), so that
    programs still reach the API's JSON at the same address. Pages are installed before the API
    routes for this to work."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE:
            return match, child
        headers = dict(scope.get("headers") or [])
        if b"authorization" in headers or b"text/html" not in headers.get(b"accept", b""):
            return Match.NONE, {}
        return match, child


router = APIRouter(include_in_schema=False)


def _offices(user: PageUser) -> list[str] | None:
    """The offices whose work the user sees: its own; every office for an administrator, or for
    an officer attached to none (told so on the page)."""
    offices = list(user.principal.offices)
    return offices or None


def _pages(total: int) -> int:
    return max(1, math.ceil(total / PAGE_SIZE))


def _count(value: str | None) -> int:
    try:
        return min(max(int(value or 0), 0), 1_000_000)
    except ValueError:
        return 0


def _page_number(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), 1_000_000)
    except ValueError:
        return 1


# --- the queue -------------------------------------------------------------------------------


def _queue_filters(query: dict[str, str]) -> tuple[QueueFilters, list[Issue]]:
    """The queue's filters from the query string; a value that cannot be is set aside and said."""
    issues: list[Issue] = []
    lane = query.get("lane") or None
    if lane is not None and lane not in LANES:
        issues.append(Issue("/lane", "web.officer.filters.bad_lane"))
        lane = None
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        issues.append(Issue("/status", "web.officer.filters.bad_status"))
        status = None
    hs_code = (query.get("hs_code") or "").replace(".", "").replace(" ", "") or None
    if hs_code is not None and not (hs_code.isdigit() and 2 <= len(hs_code) <= 10):
        issues.append(Issue("/hs_code", "web.officer.filters.bad_hs_code"))
        hs_code = None
    origin = (query.get("origin") or "").strip().upper() or None
    if origin is not None and not (len(origin) == 2 and origin.isalpha()):
        issues.append(Issue("/origin", "web.officer.filters.bad_origin"))
        origin = None
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        value = (query.get(name) or "").strip()
        try:
            days[name] = date.fromisoformat(value) if value else None
        except ValueError:
            issues.append(Issue(f"/{name}", "web.officer.filters.bad_date"))
            days[name] = None
    importer = (query.get("importer") or "").strip()[:70] or None
    return QueueFilters(lane, status, importer, hs_code, origin, days["from"], days["to"]), issues


@router.get("/queue")
def queue_page(request: Request, user: Officer) -> Response:
    query = {k: v for k, v in request.query_params.items() if k != "page"}
    filters, issues = _queue_filters(query)
    page = _page_number(request.query_params.get("page"))
    with request.app.state.node.engine.connect() as conn:
        rows, total = queue(conn, user.principal, _offices(user), filters, page=page, page_size=PAGE_SIZE)
    state = FormState.from_issues(query, issues, user.lang, fields={"lane": "lane", "status": "status", "hs_code": "hs_code", "origin": "origin", "from": "from", "to": "to"})
    kept = urlencode([(k, v) for k, v in request.query_params.multi_items() if k in QUEUE_FIELDS and v])
    return render(
        request,
        "officer/queue.html",
        user,
        status=422 if state.failed else 200,
        rows=rows,
        total=total,
        page=page,
        pages=_pages(total),
        state=state,
        query=query,
        kept=kept,
        lanes=LANES,
        statuses=STATUSES,
        offices=user.principal.offices,
        all_offices=_offices(user) is None,
        attached=bool(user.principal.offices),
    )


QUEUE_FIELDS = ("lane", "status", "importer", "hs_code", "origin", "from", "to")


@router.post("/queue")
async def queue_filter(request: Request, user: Officer) -> Response:
    """The filter form, posted: back to the queue with the filters in its address (PRG)."""
    values = await form(request, user)
    kept = {name: values[name].strip() for name in QUEUE_FIELDS if values.get(name, "").strip()}
    return see_other("/queue" + ("?" + urlencode(kept) if kept else ""))


# --- a declaration and its actions -------------------------------------------------------------


def _blank(values: dict[str, str], *names: str) -> dict[str, Any]:
    """The posted values with empty optional fields left out (the API's defaults apply)."""
    return {k: v for k, v in values.items() if not (k in names and not v.strip())}


def _amount_text(value: str, lang: str) -> str:
    """An amount as typed in the user's language (``1 250 000,50`` in French), as the API's plain
    text; left as typed when it is no number, for the API's model to say so."""
    try:
        return str(formatting.parse_number(value, lang))
    except ValueError:
        return value.strip()


def _arrival(values: dict[str, str]) -> Arrival:
    typed = values.get("arrived_at", "").strip()
    if not typed:
        return Arrival()
    text = typed.replace(" ", "T")
    if not (text.endswith("Z") or "+" in text[10:] or "-" in text[10:]):
        text += "+00:00"  # the form asks for UTC
    try:
        return parse(Arrival, {"arrived_at": text})
    except ValidationFailed:
        raise ValidationFailed([Issue("/arrived_at", "web.officer.form.bad_time")]) from None


def _inspection(values: dict[str, str], lang: str) -> InspectionResult:
    body: dict[str, Any] = _blank(values, "extra_duty", "findings")
    body["fraud_kinds"] = [k for k in values.get("fraud_kinds", "").split("\n") if k]
    if "extra_duty" in body:
        body["extra_duty"] = _amount_text(body["extra_duty"], lang)
    return parse(InspectionResult, body)


def _payment(values: dict[str, str], lang: str) -> Payment:
    body = {k: v.strip() for k, v in values.items() if k in ("amount", "receipt")}
    if "amount" in body:
        body["amount"] = _amount_text(body["amount"], lang)
    return parse(Payment, body)


def _rejection(values: dict[str, str]) -> Rejection:
    return parse(Rejection, {"reason": values.get("reason", "").strip()})


def _actions(node: Any, declaration_id: int, user: PageUser) -> dict[str, Callable[[Any, dict[str, str]], None]]:
    """Each form's action: the API's body model, then the API's service call."""
    rules = TimeRules.of(node.context)
    p = user.principal

    def arrival(conn: Any, values: dict[str, str]) -> None:
        service.record_arrival(conn, declaration_id, p, arrived_at=_arrival(values).arrived_at, rules=rules)

    def control(conn: Any, values: dict[str, str]) -> None:
        body = _inspection(values, user.lang)
        service.record_inspection(conn, declaration_id, p, fraud_found=body.fraud_found, fraud_kinds=body.fraud_kinds, extra_duty=body.extra_duty, findings=body.findings, rules=rules)

    def payment(conn: Any, values: dict[str, str]) -> None:
        body = _payment(values, user.lang)
        service.record_payment(conn, declaration_id, p, amount=body.amount, receipt=body.receipt, rules=rules)

    def release(conn: Any, values: dict[str, str]) -> None:
        service.record_release(conn, declaration_id, p, rules=rules)

    def rejection(conn: Any, values: dict[str, str]) -> None:
        body = _rejection(values)
        service.record_rejection(conn, declaration_id, p, reason=body.reason, rules=rules)

    return {"arrival": arrival, "control": control, "payment": payment, "release": release, "rejection": rejection}


def _declaration_context(conn: Any, node: Any, declaration_id: int, user: PageUser) -> dict[str, Any]:
    record = service.get(conn, declaration_id, user.principal)
    view = described(detail_view(record, user.lang, risk=True), user.lang, staff=True)
    annexes = {key: annex(conn, declaration_id, user.lang) for key, annex in node.context.annexes}
    life = record.lifecycle
    closed = life.reached(EventKind.REJECTED)
    released = life.reached(EventKind.RELEASED)
    possible = {
        "arrival": not closed and not life.reached(EventKind.ARRIVED),
        "control": not closed and not life.reached(EventKind.INSPECTED) and (not released or life.lane == "blue"),
        "payment": not closed and life.outstanding > 0,
        "release": not closed and not released,
        "rejection": not closed and not released,
    }
    return {
        "d": view,
        "doc": view["declaration"],
        "life": life,
        "mirror": annexes.get("mirror_control"),
        "note": release_notes.of_declaration(conn, declaration_id),
        "possible": possible,
        "controlled": life.lane in CONTROLLED_LANES,
        "fraud_kinds": FRAUD_KINDS,
    }


def _render_declaration(request: Request, user: PageUser, declaration_id: int, *, status: int = 200, forms: dict[str, FormState] | None = None, done: str | None = None) -> Response:
    node = request.app.state.node
    with node.engine.connect() as conn:
        context = _declaration_context(conn, node, declaration_id, user)
    return render(request, "officer/declaration.html", user, status=status, forms=forms or {}, blank=FormState(), done=done, **context)


def declaration_page(request: Request, declaration_id: DeclarationId, user: Page) -> Response:
    if not user.may(Action.READ_RISK):  # a declarant's view of its own declaration
        return see_other(f"/my/declarations/{declaration_id}")
    done = request.query_params.get("done")
    return _render_declaration(request, user, declaration_id, done=done if done in DONE else None)


router.add_api_route("/declarations/{declaration_id}", declaration_page, methods=["GET"], route_class_override=BrowserRoute)


async def _act(request: Request, declaration_id: int, user: PageUser, action: str) -> Response:
    values = await form(request, user)
    node = request.app.state.node
    try:
        with write(node.engine) as conn:
            _actions(node, declaration_id, user)[action](conn, values)
    except ValidationFailed as exc:
        state = FormState.from_issues(values, exc.issues, user.lang, fields=_FIELDS[action])
        return _render_declaration(request, user, declaration_id, status=422, forms={action: state})
    except Conflict as exc:
        state = FormState(values=values, general=[exc.message(user.lang)])
        return _render_declaration(request, user, declaration_id, status=409, forms={action: state})
    return see_other(f"/declarations/{declaration_id}?done={action}")


_FIELDS: dict[str, dict[str, str]] = {
    "arrival": {"arrived_at": "arrived_at"},
    "control": {"fraud_found": "fraud_found", "fraud_kinds": "fraud_kinds", "extra_duty": "extra_duty", "findings": "findings"},
    "payment": {"amount": "amount", "receipt": "receipt"},
    "release": {},
    "rejection": {"reason": "reason"},
}
"""Each form's fields, named as the API's body names them (so errors land beside them)."""


FormAction = Literal["arrival", "control", "payment", "release", "rejection"]


@router.post("/declarations/{declaration_id}/record-{action}")
async def record(request: Request, declaration_id: DeclarationId, action: FormAction, user: Officer) -> Response:
    """One of the declaration page's actions (its form posts to ``record-<action>``)."""
    return await _act(request, declaration_id, user, action)


# --- printable documents ---------------------------------------------------------------------------


@router.get("/declarations/{declaration_id}/release-note")
def release_note_page(request: Request, declaration_id: DeclarationId, user: Page) -> Response:
    """The bon à enlever: for customs staff and for the declarant who lodged the declaration."""
    with request.app.state.node.engine.connect() as conn:
        record = service.get(conn, declaration_id, user.principal)  # a declarant: its own only
        note = release_notes.of_declaration(conn, declaration_id)
    if note is None:
        raise Conflict("release_note.not_released")
    view = detail_view(record, user.lang, risk=user.may(Action.READ_RISK))
    return render(request, "officer/release_note.html", user, d=view, doc=view["declaration"], note=note, life=record.lifecycle)


@router.get("/declarations/{declaration_id}/control-report")
def control_report_page(request: Request, declaration_id: DeclarationId, user: Staff) -> Response:
    with request.app.state.node.engine.connect() as conn:
        record = service.get(conn, declaration_id, user.principal)
    view = described(detail_view(record, user.lang, risk=True), user.lang, staff=True)
    inspection = next((e for e in view["events"] if e["kind"] == EventKind.INSPECTED.value), None)
    return render(request, "officer/control_report.html", user, d=view, doc=view["declaration"], inspection=inspection, life=record.lifecycle)


# --- the gate ----------------------------------------------------------------------------------


@router.get("/verify")
def verify_page(request: Request, user: Staff) -> Response:
    typed = (request.query_params.get("number") or "").strip()[: release_notes.NUMBER_MAX]
    if not typed:
        return render(request, "officer/verify.html", user, state=FormState(), found=None)
    with request.app.state.node.engine.connect() as conn:
        try:
            note = release_notes.verify(conn, typed, user.principal)
        except NotFound as exc:  # said beside the field, the number kept
            state = FormState(values={"number": typed}, errors={"number": [exc.message(user.lang)]})
            return render(request, "officer/verify.html", user, status=404, state=state, found=None)
        record = service.get(conn, note.declaration_id, user.principal)
    view = detail_view(record, user.lang, risk=True)
    return render(
        request, "officer/verify.html", user, state=FormState(values={"number": note.number}), found={"note": note, "d": view, "doc": view["declaration"], "released": record.lifecycle.reached(EventKind.RELEASED)}
    )


@router.post("/verify")
async def verify_post(request: Request, user: Staff) -> Response:
    values = await form(request, user)
    typed = (values.get("number") or "").strip()[: release_notes.NUMBER_MAX]
    if not typed:
        state = FormState(values=values, errors={"number": [t("web.officer.verify.required", user.lang)]})
        return render(request, "officer/verify.html", user, status=422, state=state, found=None)
    return see_other("/verify?number=" + quote(typed, safe=""))


# --- cargo reports ---------------------------------------------------------------------------------


@router.get("/cargo-reports")
def cargo_reports_page(request: Request, user: Staff) -> Response:
    page = _page_number(request.query_params.get("page"))
    with request.app.state.node.engine.connect() as conn:
        rows, total = cargo.cargo_reports(conn, user.principal, _offices(user), page=page, page_size=PAGE_SIZE)
    return render(request, "officer/cargo_reports.html", user, rows=rows, total=total, page=page, pages=_pages(total))


def _render_cargo(request: Request, user: PageUser, manifest_id: int, *, status: int = 200, state: FormState | None = None, outcome: dict[str, int] | None = None) -> Response:
    with request.app.state.node.engine.connect() as conn:
        view = cargo.cargo_report(conn, manifest_id, user.principal)
    return render(request, "officer/cargo_report.html", user, status=status, report=view.report, doc=view.report["manifest"] or {}, bills=view.bills, state=state or FormState(), outcome=outcome)


@router.get("/cargo-reports/{manifest_id}")
def cargo_report_page(request: Request, manifest_id: ManifestId, user: Staff) -> Response:
    outcome = None
    if "recorded" in request.query_params:  # after a voyage's arrival (PRG): what it did
        outcome = {k: _count(request.query_params.get(k)) for k in ("recorded", "skipped", "closed")}
    return _render_cargo(request, user, manifest_id, outcome=outcome)


@router.post("/cargo-reports/{manifest_id}/record-arrival")
async def record_cargo_arrival(request: Request, manifest_id: ManifestId, user: Officer) -> Response:
    values = await form(request, user)
    node = request.app.state.node
    try:
        arrived_at = _arrival(values).arrived_at
        with write(node.engine) as conn:
            done = cargo.record_cargo_arrival(conn, manifest_id, user.principal, arrived_at=arrived_at, rules=TimeRules.of(node.context))
    except ValidationFailed as exc:
        state = FormState.from_issues(values, exc.issues, user.lang, fields={"arrived_at": "arrived_at"})
        return _render_cargo(request, user, manifest_id, status=422, state=state)
    except Conflict as exc:
        return _render_cargo(request, user, manifest_id, status=409, state=FormState(values=values, general=[exc.message(user.lang)]))
    return see_other(f"/cargo-reports/{manifest_id}?recorded={len(done.recorded)}&skipped={len(done.already_arrived)}&closed={len(done.closed)}")


# --- events in words ---------------------------------------------------------------------------


def describe(event: dict[str, Any], currency: str, lang: str, *, staff: bool) -> str:
    """What an event of a declaration's timeline recorded, in words (a declarant's events come
    stripped of what it may not see: ``views.strip_for_declarant``)."""
    data = event.get("data") or {}
    kind = event["kind"]

    def money(value: Any) -> str:
        return formatting.money(Decimal(str(value)), currency, lang) if value not in (None, "") else ""

    parts: list[str] = []
    if kind == EventKind.LANE_ASSIGNED.value and data.get("lane"):
        lane = t(f"lane.{data['lane']}", lang)
        if staff and data.get("previous"):
            parts.append(t("web.officer.event.lane_source", lang, lane=lane, previous=t(f"lane.{data['previous']}", lang)))
        else:
            parts.append(t("web.officer.event.lane", lang, lane=lane))
    elif kind == EventKind.ASSESSED.value:
        parts.append(t("web.officer.event.assessed", lang, amount=money(data.get("duty_total")), currency=currency))
    elif kind == EventKind.INSPECTED.value:
        if data.get("fraud_found"):
            parts.append(t("web.officer.event.fraud", lang, kinds=", ".join(t(f"web.fraud.{k}", lang) for k in data.get("fraud_kinds", []))))
        else:
            parts.append(t("web.officer.event.no_fraud", lang))
        if data.get("extra_duty") and Decimal(str(data["extra_duty"])) > 0:
            parts.append(t("web.officer.event.extra_duty", lang, amount=money(data["extra_duty"]), currency=currency))
        if data.get("findings"):
            parts.append(t("web.officer.event.findings", lang, findings=data["findings"]))
    elif kind == EventKind.SUPPLEMENT.value:
        parts.append(t("web.officer.event.supplement", lang, amount=money(data.get("amount")), currency=currency))
        if data.get("reason"):
            parts.append(t("web.officer.event.reason", lang, reason=data["reason"]))
        if data.get("debt"):
            parts.append(t("web.officer.event.debt", lang))
    elif kind == EventKind.PAID.value:
        parts.append(t("web.officer.event.paid", lang, amount=money(data.get("amount")), currency=currency, receipt=data.get("receipt", "")))
    elif kind == EventKind.RELEASED.value and data.get("automatic"):
        parts.append(t("web.officer.event.automatic", lang))
    elif kind == EventKind.REJECTED.value and data.get("reason"):
        parts.append(t("web.officer.event.reason", lang, reason=data["reason"]))
    return "; ".join(parts)


def described(view: dict[str, Any], lang: str, *, staff: bool) -> dict[str, Any]:
    """A declaration's view with each event's details in words (``event["details"]``)."""
    for event in view["events"]:
        event["details"] = describe(event, view["currency"], lang, staff=staff)
    return view
