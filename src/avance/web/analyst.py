"""The analysts' pages (``/analysis``): selectivity profiles as forms, valuation references and
manual bounds, the installed model and the selection policy explained, exchange partners,
transits and guarantees, mirror-control outcomes.

Each page calls what the API route of the same thing calls, with the same role rules (the one
role table): profiles through ``avance.risk.profiles.service``, bounds through
``avance.risk.valuation``, the engine's state through ``avance.risk.engine.service.engine_state_of``,
movements through ``avance.movements``. Forms keep what was typed and show each error beside
its field; a stored change redirects (303) to the page that shows it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from avance.auth.access import Action
from avance.exchange import partners as exchange_partners
from avance.exchange import status as exchange_status
from avance.kit.errors import Conflict, Issue, NotFound, ValidationFailed
from avance.movements.matching import service as matching
from avance.movements.matching import views as matching_views
from avance.movements.transit import service as transit
from avance.movements.transit import views as transit_views
from avance.risk.engine.service import engine_state_of
from avance.risk.learning.drift import drift_report
from avance.risk.profiles import service as profiles
from avance.risk.profiles.rules import Rule
from avance.risk.valuation import service as valuation
from avance.risk.valuation.model import KGM
from avance.risk.valuation.overrides_file import override_from_fields
from avance.store.engine import write
from avance.web.kit import FormState, PageFor, PageUser, form, render, see_other

router = APIRouter(include_in_schema=False)

Analyst = Annotated[PageUser, PageFor(Action.EDIT_RISK)]
RiskReader = Annotated[PageUser, PageFor(Action.READ_RISK)]
EngineReader = Annotated[PageUser, PageFor(Action.RUN_RISK_ENGINE)]
ExchangeReader = Annotated[PageUser, PageFor(Action.READ_EXCHANGE)]  # the partners, their queues and the alerts
MovementReader = Annotated[PageUser, PageFor(Action.READ_MOVEMENTS)]

PAGE_SIZE = 50
LANES = ("green", "blue", "yellow", "red")


def _page_number(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 1_000_000))
    except ValueError:
        return 1


def _chosen(query: Mapping[str, str], **allowed: tuple[str, ...]) -> dict[str, str]:
    """Each list filter's value in the query when it is one of its allowed values, else ""."""
    return {name: query.get(name, "") if query.get(name) in values else "" for name, values in allowed.items()}


def _pages(total: int, page: int) -> dict[str, Any]:
    last = max(1, -(-total // PAGE_SIZE))
    return {"page": page, "last": last, "total": total, "previous": page - 1 if page > 1 else None, "next": page + 1 if page < last else None}


def _day(value: str | None, name: str, issues: list[Issue]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        issues.append(Issue(f"/{name}", "schema.date_parsing", {}))
        return None


# --- the overview ---------------------------------------------------------------------------------


@router.get("/analysis")
def overview(request: Request, user: Analyst) -> Response:
    return render(request, "analyst/overview.html", user)


# --- selectivity profiles -------------------------------------------------------------------------

LIST_CONDITIONS = (
    "importer",
    "not_importer",
    "declarant",
    "exporter",
    "export_country",
    "office",
    "procedure",
    "transport_mode",
    "incoterm",
    "invoice_currency",
    "hs_prefix",
    "not_hs_prefix",
    "hs_code",
    "origin",
    "not_origin",
    "item_procedure",
    "supplementary_unit",
)
AMOUNT_CONDITIONS = (
    "customs_value_above",
    "duty_total_above",
    "value_per_kg_below",
    "value_per_kg_above",
    "unit_value_below",
    "unit_value_above",
)
DECLARATION_CONDITIONS = (
    "importer",
    "not_importer",
    "declarant",
    "exporter",
    "export_country",
    "office",
    "procedure",
    "transport_mode",
    "incoterm",
    "invoice_currency",
    "customs_value_above",
    "duty_total_above",
    "signal",
)
ITEM_CONDITIONS = (
    "hs_prefix",
    "not_hs_prefix",
    "hs_code",
    "origin",
    "not_origin",
    "duty_regime",
    "item_procedure",
    "supplementary_unit",
    "value_per_kg_below",
    "value_per_kg_above",
    "unit_value_below",
    "unit_value_above",
)
SIGNALS = ("split_consignment", "consignee_differs")
PROFILE_FIELDS = (
    "id",
    "description_fr",
    "description_en",
    "valid_from",
    "valid_to",
    "lane",
    "score",
    "active",
    "when",
    *(f"when_{c}" for c in (*DECLARATION_CONDITIONS, *ITEM_CONDITIONS)),
)
_SEPARATORS = re.compile(r"[,;\s]+")


def _items(text: str) -> list[str]:
    return [part for part in _SEPARATORS.split(text.strip()) if part]


def _amount_text(text: str) -> str:
    """A number as typed in French or English: ``1 000,5`` and ``1000.5`` are the same."""
    return text.replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace(",", ".")


def profile_document(values: Mapping[str, str]) -> dict[str, Any]:
    """The profile document (the API's body) from the form's fields; empty fields are left out,
    so that the profile rules (``Rule``) judge what was given."""
    when: dict[str, Any] = {}
    for name in LIST_CONDITIONS:
        text = values.get(f"when_{name}", "").strip()
        if not text:
            continue
        if name == "exporter":
            when[name] = [line.strip() for line in text.splitlines() if line.strip()]
        elif name == "transport_mode":
            when[name] = [int(v) if v.isdigit() else v for v in _items(text)]
        elif name in ("hs_prefix", "not_hs_prefix", "hs_code", "procedure", "item_procedure"):
            when[name] = [v.replace(".", "") for v in _items(text)]
        else:
            when[name] = [v.upper() for v in _items(text)]
    for name in AMOUNT_CONDITIONS:
        text = values.get(f"when_{name}", "").strip()
        if text:
            when[name] = _amount_text(text)
    if values.get("when_duty_regime"):
        when["duty_regime"] = values["when_duty_regime"]
    signals = [s for s in values.get("when_signal", "").split("\n") if s]
    if signals:
        when["signal"] = signals
    document: dict[str, Any] = {
        "id": values.get("id", "").strip(),
        "description": {"fr": values.get("description_fr", ""), "en": values.get("description_en", "")},
        "when": when,
        "active": values.get("active", "") in ("on", "true", "1"),
    }
    for name in ("valid_from", "valid_to"):
        if values.get(name, "").strip():
            document[name] = values[name].strip()
    if values.get("lane"):
        document["lane"] = values["lane"]
    if values.get("score", "").strip():
        document["score"] = _amount_text(values["score"].strip())
    return document


def profile_values(rule: Rule | None) -> dict[str, str]:
    """The form's fields for ``rule`` (empty for a new profile)."""
    values = dict.fromkeys(PROFILE_FIELDS, "")
    values["active"] = "on"
    if rule is None:
        return values
    values.update(
        id=rule.id,
        description_fr=rule.description.fr,
        description_en=rule.description.en,
        valid_from=rule.valid_from.isoformat() if rule.valid_from else "",
        valid_to=rule.valid_to.isoformat() if rule.valid_to else "",
        lane=rule.lane.value if rule.lane is not None else "",
        score=format(rule.score, "f") if rule.score else "",
        active="on" if rule.active else "",
    )
    when = rule.when.model_dump(mode="json", exclude_none=True)
    for name, value in when.items():
        if name == "exporter":
            values[f"when_{name}"] = "\n".join(value)
        elif name == "signal":
            values["when_signal"] = "\n".join(value)
        elif isinstance(value, list):
            values[f"when_{name}"] = ", ".join(str(v) for v in value)
        else:
            values[f"when_{name}"] = str(value)
    return values


def _field_of(pointer: str) -> str:
    """The form field of an issue's JSON pointer into the profile document."""
    parts = [p for p in pointer.strip("/").split("/") if p]
    if not parts:
        return ""
    if parts[0] == "description":
        return f"description_{parts[1]}" if len(parts) > 1 and parts[1] in ("fr", "en") else "description_fr"
    if parts[0] == "when":
        return f"when_{parts[1]}" if len(parts) > 1 and f"when_{parts[1]}" in PROFILE_FIELDS else "when"
    return parts[0] if parts[0] in PROFILE_FIELDS else ""


def profile_form_state(values: Mapping[str, str], issues: list[Issue], lang: str) -> FormState:
    moved = [Issue("/" + _field_of(i.pointer) if _field_of(i.pointer) else "", i.code, i.params) for i in issues]
    return FormState.from_issues(values, moved, lang)


def _reload_profiles(request: Request) -> None:
    """The running node assesses with the new profiles from the next lodging on (as the API does)."""
    reload = getattr(request.app.state.node, "reload_profiles", None)
    if callable(reload):
        reload()


def _profile_form(request: Request, user: PageUser, *, mode: str, state: FormState, profile_id: str | None = None, status: int = 200) -> Response:
    return render(
        request,
        "analyst/profile_form.html",
        user,
        status=status,
        mode=mode,
        profile_id=profile_id,
        state=state,
        lanes=LANES,
        signals=SIGNALS,
        declaration_conditions=DECLARATION_CONDITIONS,
        item_conditions=ITEM_CONDITIONS,
        amount_conditions=AMOUNT_CONDITIONS,
    )


@router.get("/analysis/profiles")
def profile_list(request: Request, user: RiskReader, active: str | None = None, since: str | None = None, until: str | None = None) -> Response:
    issues: list[Issue] = []
    first, last = _day(since, "since", issues), _day(until, "until", issues)
    flag = {"yes": True, "no": False}.get(active or "")
    with request.app.state.node.engine.connect() as conn:
        records = profiles.list_profiles(conn, user.principal, active=flag)
        stats = {s.profile_id: s for s in profiles.profile_stats(conn, since=first, until=last)}
    filters = FormState.from_issues({"active": active or "", "since": since or "", "until": until or ""}, issues, user.lang)
    return render(
        request, "analyst/profiles.html", user, status=422 if issues else 200, records=records, stats=stats, filters=filters, today=datetime.now(timezone.utc).date()
    )


@router.get("/analysis/profiles/new")
def profile_new(request: Request, user: Analyst) -> Response:
    return _profile_form(request, user, mode="create", state=FormState(values=profile_values(None)))


@router.post("/analysis/profiles/new")
async def profile_create(request: Request, user: Analyst) -> Response:
    fields = await form(request, user)
    values = {**dict.fromkeys(PROFILE_FIELDS, ""), **{k: v for k, v in fields.items() if k in PROFILE_FIELDS}}
    document = profile_document(values)
    node = request.app.state.node
    try:
        with write(node.engine) as conn:
            if document["id"]:
                try:
                    profiles.get_record(conn, document["id"], user.principal)
                except NotFound:
                    pass
                else:
                    raise ValidationFailed([Issue("/id", "web.analyst.profile.exists", {"id": document["id"]})])
            profiles.put_profile(conn, document, user.principal)
    except ValidationFailed as exc:
        return _profile_form(request, user, mode="create", state=profile_form_state(values, exc.issues, user.lang), status=422)
    except Conflict as exc:
        state = FormState(values=values, general=[exc.message(user.lang)])
        return _profile_form(request, user, mode="create", state=state, status=409)
    _reload_profiles(request)
    return see_other(f"/analysis/profiles/{document['id']}")


@router.get("/analysis/profiles/{profile_id}")
def profile_detail(request: Request, user: RiskReader, profile_id: str) -> Response:
    with request.app.state.node.engine.connect() as conn:
        record = profiles.get_record(conn, profile_id, user.principal)
        history = profiles.profile_history(conn, profile_id, user.principal)
        stats = next((s for s in profiles.profile_stats(conn) if s.profile_id == profile_id), None)
    versions = [{"version": v.version, "change": v.change, "author": v.author, "saved_at": v.saved_at, "document": v.document} for v in reversed(history)]
    return render(
        request,
        "analyst/profile.html",
        user,
        record=record,
        rule=record.rule,
        conditions=(record.rule.when or record.rule.cargo).model_dump(mode="json", exclude_none=True),
        versions=versions,
        stats=stats,
        saved=request.query_params.get("saved"),
    )


@router.get("/analysis/profiles/{profile_id}/edit")
def profile_edit(request: Request, user: Analyst, profile_id: str) -> Response:
    with request.app.state.node.engine.connect() as conn:
        rule = profiles.get_record(conn, profile_id, user.principal).rule
    if rule.cargo is not None:  # the form holds declaration conditions only: saving it would drop the cargo block
        raise Conflict("web.analyst.cargo_profile_as_yaml", id=profile_id)
    return _profile_form(request, user, mode="edit", profile_id=profile_id, state=FormState(values=profile_values(rule)))


@router.post("/analysis/profiles/{profile_id}/edit")
async def profile_update(request: Request, user: Analyst, profile_id: str) -> Response:
    fields = await form(request, user)
    with request.app.state.node.engine.connect() as conn:
        if profiles.get_record(conn, profile_id, user.principal).rule.cargo is not None:
            raise Conflict("web.analyst.cargo_profile_as_yaml", id=profile_id)
    values = {**dict.fromkeys(PROFILE_FIELDS, ""), **{k: v for k, v in fields.items() if k in PROFILE_FIELDS}, "id": profile_id}
    document = profile_document(values)
    node = request.app.state.node
    try:
        with write(node.engine) as conn:
            profiles.get_record(conn, profile_id, user.principal)  # 404 for a profile that does not exist
            saved = profiles.put_profile(conn, document, user.principal)
    except ValidationFailed as exc:
        return _profile_form(request, user, mode="edit", profile_id=profile_id, state=profile_form_state(values, exc.issues, user.lang), status=422)
    except Conflict as exc:
        state = FormState(values=values, general=[exc.message(user.lang)])
        return _profile_form(request, user, mode="edit", profile_id=profile_id, state=state, status=409)
    if saved.outcome != "unchanged":
        _reload_profiles(request)
    return see_other(f"/analysis/profiles/{profile_id}?saved={saved.outcome}")


@router.post("/analysis/profiles/{profile_id}/deactivate")
async def profile_deactivate(request: Request, user: Analyst, profile_id: str) -> Response:
    await form(request, user)
    with write(request.app.state.node.engine) as conn:
        profiles.deactivate_profile(conn, profile_id, user.principal)
    _reload_profiles(request)
    return see_other(f"/analysis/profiles/{profile_id}?saved=deactivated")


# --- valuation references and manual bounds ---------------------------------------------------------

BOUND_FIELDS = ("hs", "origin", "unit", "min", "max", "valid_from", "valid_to", "note")


@router.get("/analysis/valuation")
def valuation_page(request: Request, user: RiskReader) -> Response:
    q = request.query_params
    values = {"hs": q.get("hs", "").strip(), "origin": q.get("origin", "").strip().upper(), "unit": q.get("unit", "").strip().upper(), "on": q.get("on", "").strip()}
    issues: list[Issue] = []
    if values["hs"] and not re.fullmatch(r"[0-9]{4,10}", values["hs"]):
        issues.append(Issue("/hs", "valuation.hs_prefix", {"value": values["hs"]}))
    if values["origin"] and not re.fullmatch(r"[A-Z]{2}", values["origin"]):
        issues.append(Issue("/origin", "country.unknown", {"code": values["origin"]}))
    if values["unit"] and not re.fullmatch(r"[A-Z0-9]{1,3}", values["unit"]):
        issues.append(Issue("/unit", "valuation.unit", {"value": values["unit"]}))
    on = _day(values["on"], "on", issues) or datetime.now(timezone.utc).date()
    page = _page_number(q.get("page"))
    lookup = None
    with request.app.state.node.engine.connect() as conn:
        snapshot = valuation.snapshot_info(conn)
        searched = values["hs"] if values["hs"] and not issues else None
        found = valuation.list_overrides(conn, hs=searched)
        if searched is not None:
            index = valuation.load_index(conn, hs=searched)
            unit = values["unit"] or KGM
            reference = index.reference(searched, values["origin"], unit, on)
            lookup = {
                "reference": reference,
                "levels": index.candidates(searched, values["origin"] or None, unit),
                "currency": index.currency,
                "unit": unit,
                "on": on,
            }
    filters = FormState.from_issues(values, issues, user.lang)
    rows = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return render(
        request,
        "analyst/valuation.html",
        user,
        status=422 if issues else 200,
        filters=filters,
        snapshot=snapshot,
        lookup=lookup,
        overrides=rows,
        pages=_pages(len(found), page),
        saved=q.get("saved"),
    )


def _bound_form(request: Request, user: PageUser, state: FormState, status: int = 200) -> Response:
    return render(request, "analyst/bound_form.html", user, status=status, state=state)


@router.get("/analysis/valuation/bounds/new")
def bound_new(request: Request, user: Analyst) -> Response:
    q = request.query_params
    values = dict.fromkeys(BOUND_FIELDS, "")
    source = q.get("from")
    if source and source.isdigit():
        with request.app.state.node.engine.connect() as conn:
            stored = valuation.get_override(conn, int(source)).to_dict()
        values.update({k: str(stored[k]) if stored.get(k) is not None else "" for k in BOUND_FIELDS})
    else:
        values.update({k: q.get(k, "") for k in ("hs", "origin", "unit")})
    return _bound_form(request, user, FormState(values=values))


@router.post("/analysis/valuation/bounds/new")
async def bound_set(request: Request, user: Analyst) -> Response:
    fields = await form(request, user)
    values = {k: fields.get(k, "") for k in BOUND_FIELDS}
    override, issues = override_from_fields(values, author=user.principal.name, decimal_comma=user.lang == "fr")
    if override is None:
        return _bound_form(request, user, FormState.from_issues(values, issues, user.lang), status=422)
    node = request.app.state.node
    with write(node.engine) as conn:
        stored, _created = valuation.set_override(conn, override, actor=user.principal)
    node.reload_valuation()
    return see_other(f"/analysis/valuation?hs={stored.hs_prefix}&saved=set")


@router.post("/analysis/valuation/bounds/{override_id}/lift")
async def bound_lift(request: Request, user: Analyst, override_id: int) -> Response:
    await form(request, user)
    node = request.app.state.node
    with write(node.engine) as conn:
        removed = valuation.remove_override(conn, override_id, actor=user.principal)
    node.reload_valuation()
    return see_other(f"/analysis/valuation?hs={removed.hs_prefix}&saved=lifted")


# --- the model and the selection policy -------------------------------------------------------------


def _nearest_precision(metrics: Mapping[str, Any] | None, rate: float) -> tuple[str, float] | None:
    """The holdout precision measured at the inspection share nearest to ``rate`` (the model keeps
    it at 1, 2, 5 and 10 %): the share's label and the precision."""
    table = (metrics or {}).get("precision_at") if isinstance(metrics, Mapping) else None
    if not isinstance(table, Mapping) or not table:
        return None
    measured = []
    for label, value in table.items():
        try:
            measured.append((abs(float(str(label).rstrip("%")) / 100 - rate), str(label), float(value)))
        except (TypeError, ValueError):
            continue
    if not measured:
        return None
    _, label, value = min(measured)
    return label, value


@router.get("/analysis/model")
def model_page(request: Request, user: EngineReader) -> Response:
    node = request.app.state.node
    state = engine_state_of(node.context.assessor)
    model = state.get("model")
    metrics = (model or {}).get("metrics") or {}
    holdout = metrics if isinstance(metrics, Mapping) else {}
    policy = state.get("policy")
    offices: list[dict[str, Any]] = []
    if policy is not None:
        codes = sorted({*policy.get("offices", {}).keys(), *(q["office"] for q in state.get("quotas") or [])})
        config = node.context.assessor.selector.config
        quotas = {q["office"]: q for q in state.get("quotas") or []}
        for code in [None, *codes]:
            rates = config.rates(code) if code is not None else config.default
            inspection = float(rates.red)
            offices.append(
                {
                    "office": code,
                    "rates": rates,
                    "precision": _nearest_precision(holdout, inspection) if model else None,
                    "quota": quotas.get(code) if code is not None else None,
                }
            )
    drift = None
    assessor = node.context.assessor
    quantiles = None
    if getattr(assessor, "model", None) is not None:
        quantiles = assessor.model.metadata.get("declaration_score_quantiles") or assessor.model.metadata.get("score_quantiles")
    with node.engine.connect() as conn:
        drift = drift_report(conn, quantiles, weeks=8)
    return render(request, "analyst/model.html", user, state=state, model=model, holdout=holdout, policy=policy, offices=offices, drift=drift)


# --- exchange partners, transits and guarantees, mirror control ------------------------------------


@router.get("/analysis/exchange")
def exchange_page(request: Request, user: ExchangeReader) -> Response:
    with request.app.state.node.engine.connect() as conn:
        found = exchange_partners.list_partners(conn)
        status_report = exchange_status.report(conn)
        alerts = exchange_status.alerts(conn, open_only=True)
    queues = {p["node_id"]: p for p in status_report.get("partners", [])}
    return render(request, "analyst/exchange.html", user, partners=found, queues=queues, report=status_report, alerts=alerts)


TRANSIT_STATUSES = ("registered", "in_transit", "arrived", "discharged", "overdue")
TRANSIT_ROLES = ("departure", "en_route", "destination")


@router.get("/analysis/transits")
def transits_page(request: Request, user: MovementReader) -> Response:
    chosen = _chosen(request.query_params, status=TRANSIT_STATUSES, role=TRANSIT_ROLES)
    page = _page_number(request.query_params.get("page"))
    with request.app.state.node.engine.connect() as conn:
        rows, total = transit.search(conn, status=chosen["status"] or None, role=chosen["role"] or None, page=page, page_size=PAGE_SIZE)
        balances = transit.guarantee_balances(conn)
    items = [transit_views.summary(r, user.lang) for r in rows]
    return render(
        request,
        "analyst/transits.html",
        user,
        items=items,
        balances=balances,
        pages=_pages(total, page),
        filters=FormState(values=chosen),
        statuses=TRANSIT_STATUSES,
        roles=TRANSIT_ROLES,
    )


OUTCOMES = ("pending", "conforme", "non_conforme", "non_retrouvee")
DIRECTIONS = ("received", "sent")


@router.get("/analysis/mirror-control")
def mirror_page(request: Request, user: MovementReader) -> Response:
    chosen = _chosen(request.query_params, outcome=OUTCOMES, direction=DIRECTIONS)
    page = _page_number(request.query_params.get("page"))
    with request.app.state.node.engine.connect() as conn:
        rows, total = matching.search(conn, outcome=chosen["outcome"] or None, direction=chosen["direction"] or None, page=page, page_size=PAGE_SIZE)
    items = [matching_views.summary(r, user.lang) for r in rows]
    return render(
        request,
        "analyst/mirror.html",
        user,
        items=items,
        pages=_pages(total, page),
        filters=FormState(values=chosen),
        outcomes=OUTCOMES,
        directions=DIRECTIONS,
    )
