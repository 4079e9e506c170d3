"""HTTP routes for selectivity profiles (``/risk/profiles``). They only translate HTTP to
``avance.risk.profiles.service`` calls. Analysts and administrators change profiles, officers read them,
declarants get 403: traders who could read the criteria would learn to avoid them (``READ_RISK`` and
``EDIT_RISK`` in the role table).

The profile set has two representations: JSON, and the YAML file analysts keep (the rules.yaml
form, which the import reads back), chosen by ``Accept`` or ``?format=yaml``."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request, Response, status
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from avance.audit.api import Recorded
from avance.auth.access import Action
from avance.auth.api import Allowed
from avance.auth.model import Principal
from avance.kit.errors import Issue, ValidationFailed
from avance.kit.http import JSON, YAML, DateText, Lang, Negotiated, NodeDep, Representation, ServedNode, TimeText, file_response, problems, representations
from avance.risk.profiles import service as profiles
from avance.risk.profiles.rules import Rule
from avance.store.engine import write

router = APIRouter(prefix="/risk/profiles", tags=["risk profiles"])

ProfileId = Annotated[str, Path(min_length=1, max_length=64, description="Profile code, e.g. P-TEXT-CN-LOW")]

EXAMPLE = {
    "description": {
        "fr": "Textiles chinois déclarés à moins de 2 000 par kg : sous-évaluation probable",
        "en": "Chinese textiles declared below 2,000 per kg: likely under-valuation",
    },
    "valid_from": "2026-01-01",
    "when": {"hs_prefix": ["61", "62"], "origin": ["CN"], "value_per_kg_below": 2000},
    "lane": "red",
    "score": 0.3,
}


Reader = Annotated[Principal, Recorded(Action.READ_RISK, "risk.profiles")]  # confidential: each read is in the audit trail
Writer = Annotated[Principal, Allowed(Action.EDIT_RISK)]


class ProfileView(Rule):
    """A profile's current version, as stored, with its label in the caller's language."""

    label: str = Field(description="The description in the caller's language.")
    in_force_today: bool = Field(alias="in_force", description="Active, and today within its validity.")  # Rule.in_force is a method
    created_at: TimeText | None = None
    updated_at: TimeText | None = None


class ProfileList(BaseModel):
    items: list[ProfileView]
    total: int


class ProfileVersion(BaseModel):
    version: int
    change: str
    author: str
    saved_at: TimeText
    document: dict[str, Any] = Field(description="The profile as saved in this version.")


class ProfileWithHistory(ProfileView):
    versions: list[ProfileVersion] = Field(description="Every saved version, oldest first.")


class ProfileSaved(ProfileView):
    outcome: Literal["created", "updated", "unchanged"]


class ImportReport(BaseModel):
    """What an import did, profile id by profile id."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]
    deactivated: list[str] = Field(description="Active profiles the file did not name (with `replace=true`).")
    settings_changed: bool = Field(description="Whether the rule set's name, default lane or random selection changed.")


class ProfileStat(BaseModel):
    profile_id: str
    version: int | None
    active: bool | None
    lane: str | None
    hits: int
    inspected: int
    frauds: int
    hit_rate: str | None = Field(description="Frauds found per declaration inspected, an exact decimal (None before any inspection).")
    inspection_rate: str | None = Field(description="Declarations inspected per hit.")
    extra_duty: str = Field(description="Extra duty recovered, exact decimal in the national currency.")
    currency: str | None


class ProfileStats(BaseModel):
    since: DateText | None
    until: DateText | None
    items: list[ProfileStat]


def _reload(request: Request) -> None:
    """The running node assesses with the new profiles from the next lodging on."""
    reload = getattr(request.app.state.node, "reload_profiles", None)
    if callable(reload):
        reload()


def profile_view(rule: Rule, lang: str, *, created_at: datetime | None = None, updated_at: datetime | None = None) -> dict[str, Any]:
    view = rule.model_dump(mode="json", exclude_none=True)
    view["label"] = rule.description.fr if lang == "fr" else rule.description.en
    view["in_force"] = rule.active and rule.in_force(datetime.now(timezone.utc).date())
    if created_at is not None:
        view["created_at"] = created_at.isoformat()
    if updated_at is not None:
        view["updated_at"] = updated_at.isoformat()
    return view


def _record_view(conn: Any, profile_id: str, caller: Principal, lang: str) -> dict[str, Any]:
    record = profiles.get_record(conn, profile_id, caller)
    return profile_view(record.rule, lang, created_at=record.created_at, updated_at=record.updated_at)


def _yaml(node: ServedNode) -> Response:
    with node.engine.connect() as conn:
        return file_response(profiles.export_yaml(conn), YAML, "profiles.yaml")


@router.get(
    "",
    response_model=ProfileList,
    response_model_exclude_unset=True,
    responses=representations(YAML),
    summary="List the selectivity profiles (current versions), as JSON or as the YAML file",
    description="With `Accept: text/yaml` or `?format=yaml`: the whole rule set in the rules.yaml form (inactive profiles "
    "with `active: false`, `active` does not filter it), which `POST /risk/profiles/import` reads back.",
)
def list_profiles(
    node: NodeDep, caller: Reader, lang: Lang, form: Annotated[Representation, Negotiated(JSON, YAML)], active: bool | None = None
) -> Any:
    if form == YAML:
        return _yaml(node)
    with node.engine.connect() as conn:
        records = profiles.list_profiles(conn, caller, active=active)
    return {"items": [profile_view(r.rule, lang, created_at=r.created_at, updated_at=r.updated_at) for r in records], "total": len(records)}


@router.get(
    "/export",
    summary="Every profile as YAML (the rules.yaml form); POST /risk/profiles/import reads it back",
    description="The same file as `GET /risk/profiles?format=yaml`.",
    response_class=Response,
    responses=representations(YAML),
)
def export_profiles(node: NodeDep, caller: Reader, form: Annotated[Representation, Negotiated(YAML)]) -> Response:
    return _yaml(node)


@router.post(
    "/import",
    summary="Create or update profiles from YAML, all or nothing",
    description="The body is a YAML document in the rules.yaml form. With `replace=true`, active profiles "
    "the document does not name are deactivated. A document with any error stores nothing (422 listing every error).",
    response_model=ImportReport,
    responses=problems(409),
    openapi_extra={"requestBody": {"required": True, "content": {"text/yaml": {"schema": {"type": "string"}}}}},
)
async def import_profiles(request: Request, node: NodeDep, caller: Writer, replace: bool = False) -> dict[str, Any]:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed([Issue("", "profiles.body_not_text", {})]) from None

    def run() -> profiles.ImportReport:
        with write(node.engine) as conn:
            return profiles.import_yaml(conn, text, caller, replace=replace)

    report = await run_in_threadpool(run)
    if report.changed:
        _reload(request)
    return report.to_dict()


@router.get("/stats", response_model=ProfileStats, summary="Hit rate of each profile: hits, inspected, frauds found, extra duty recovered")
def profile_stats(
    node: NodeDep,
    caller: Reader,
    since: Annotated[date | None, Query(description="First day (UTC) of the hits counted")] = None,
    until: Annotated[date | None, Query(description="Last day (UTC) of the hits counted")] = None,
) -> dict[str, Any]:
    with node.engine.connect() as conn:
        stats = profiles.profile_stats(conn, since=since, until=until)
    return {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "items": [s.to_dict() for s in stats],
    }


@router.get(
    "/{profile_id}",
    response_model=ProfileWithHistory,
    response_model_exclude_unset=True,
    summary="A profile with every saved version (author, time, document)",
)
def get_profile(profile_id: ProfileId, node: NodeDep, caller: Reader, lang: Lang) -> dict[str, Any]:
    with node.engine.connect() as conn:
        view = _record_view(conn, profile_id, caller, lang)
        history = profiles.profile_history(conn, profile_id, caller)
    view["versions"] = [
        {"version": v.version, "change": v.change, "author": v.author, "saved_at": v.saved_at.isoformat(), "document": v.document} for v in history
    ]
    return view


@router.put(
    "/{profile_id}",
    summary="Create (201) or update (200) a profile; every change is a new version",
    description="`version` and `author` are set by the node: the author is the caller. Sending the profile "
    "unchanged stores nothing and answers 200 with `outcome: unchanged`.",
    response_model=ProfileSaved,
    response_model_exclude_unset=True,
    responses={201: {"description": "Created.", "model": ProfileSaved}, 200: {"description": "Updated, or unchanged."}, **problems(409)},
)
def put_profile(
    profile_id: ProfileId,
    request: Request,
    response: Response,
    node: NodeDep,
    caller: Writer,
    lang: Lang,
    document: Annotated[dict[str, Any], Body(openapi_examples={"textiles": {"summary": "Under-valued textiles", "value": EXAMPLE}})],
) -> dict[str, Any]:
    body_id = document.get("id")
    if body_id is not None and body_id != profile_id:
        raise ValidationFailed([Issue("/id", "profiles.id_mismatch", {"body": body_id, "path": profile_id})])
    with write(node.engine) as conn:
        saved = profiles.put_profile(conn, {**document, "id": profile_id}, caller)
        view = _record_view(conn, profile_id, caller, lang)
    if saved.outcome != "unchanged":
        _reload(request)
    if saved.outcome == "created":
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = f"/risk/profiles/{profile_id}"
    view["outcome"] = saved.outcome
    return view


@router.delete(
    "/{profile_id}",
    response_model=ProfileView,
    response_model_exclude_unset=True,
    responses=problems(409),
    summary="Deactivate a profile (a new version; the history is kept)",
)
def deactivate_profile(profile_id: ProfileId, request: Request, node: NodeDep, caller: Writer, lang: Lang) -> dict[str, Any]:
    with write(node.engine) as conn:
        profiles.deactivate_profile(conn, profile_id, caller)
        view = _record_view(conn, profile_id, caller, lang)
    _reload(request)
    return view
