"""Selectivity profiles in the node's database: saved versions, YAML import and export, hit rates.

``risk_profiles`` holds each profile's current version; ``risk_profile_versions`` every version
ever saved, with who saved it and when, so that any past decision can be traced to the exact
criteria that made it. ``risk_profile_hits`` records which profiles hit which declaration; joined
with the inspection results it gives each profile's hit rate (frauds found / declarations inspected)
and the extra duty it recovered.

``CargoScreen`` is the node's screen of cargo reports (``avance.manifests.referrals.Screen``): the
active cargo profiles, read from the table, asking a referral for each bill they match.

Functions take an open ``Connection`` inside a transaction (``avance.store.engine.write``): an
import is stored whole or not at all. Analysts and administrators change profiles; officers read
them; declarants never see them (traders would learn to avoid them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from collections.abc import Sequence
from typing import Any, Iterable, Literal

import yaml
from pydantic import ValidationError
from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from avance.auth.access import Action, require
from avance.auth.model import Principal
from avance.kit.datafiles import DataFileError, read_yaml
from avance.kit.errors import Conflict, ConfigurationError, Issue, NotFound, ValidationFailed
from avance.kit.i18n import t
from avance.declarations.assessment import Lane
from avance.declarations.extensions import Lodged
from avance.manifests.model import CargoReport
from avance.manifests.referrals import ReferralAsk
from avance.risk.profiles.rules import RULE_ERROR, RandomSelection, Rule, RuleSet, cargo_matches
from avance.declarations.tables import declaration_events, declarations
from avance.store import audit, node_settings
from avance.risk.profiles.tables import risk_profile_hits, risk_profile_versions, risk_profiles
from avance.kit.validation import issues_from_errors, pointer

SETTINGS_KEY = "risk.profiles.ruleset"
"""node_settings key of the rule-set settings (name, default lane, random selection), as JSON."""
_SETTINGS_FIELDS = ("name", "default_lane", "random_selection")

Outcome = Literal["created", "updated", "unchanged"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- reading documents --------------------------------------------------------------------------


def rule_issues(errors: Iterable[dict[str, Any]]) -> list[Issue]:
    """Issues with JSON pointers from Pydantic errors; the profile checks name their field."""
    issues: list[Issue] = []
    for error in errors:
        if error.get("type") == RULE_ERROR:
            ctx = error.get("ctx") or {}
            loc = tuple(error.get("loc", ())) + ((ctx["field"],) if ctx.get("field") else ())
            issues.append(Issue(pointer(loc), str(ctx.get("code", "schema.invalid")), {}))
        else:
            issues.extend(issues_from_errors([error]))
    return issues


def parse_rule(document: Any) -> Rule:
    """A profile from a JSON-like document; ValidationFailed lists every problem with its pointer."""
    try:
        return Rule.model_validate(document)
    except ValidationError as exc:
        raise ValidationFailed(rule_issues(exc.errors(include_url=False, include_input=False))) from None


def _without_aliases(text: str) -> None:
    """YAML aliases can multiply a small file into a huge document: profiles never need them."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                where = f"line {mark.line + 1}" if mark is not None else "?"
                raise ValidationFailed([Issue("", "profiles.yaml_alias", {"where": where})])
    except yaml.YAMLError:
        return  # read_yaml reports it with its position


def parse_ruleset(text: str) -> tuple[RuleSet, set[str]]:
    """A profile file (the rules.yaml form) and the top-level settings it gives; ValidationFailed if bad."""
    _without_aliases(text)
    try:
        data = read_yaml(text=text, where="YAML")
    except DataFileError as exc:
        raise ValidationFailed([Issue("", "profiles.yaml_invalid", {"reason": exc.detail})]) from None
    if "rules" not in data:
        raise ValidationFailed([Issue("/rules", "schema.missing", {})])
    issues: list[Issue] = []
    rules = data.get("rules")
    if isinstance(rules, list):
        seen: set[str] = set()
        for i, rule in enumerate(rules):
            rule_id = rule.get("id") if isinstance(rule, dict) else None
            if isinstance(rule_id, str):
                if rule_id in seen:
                    issues.append(Issue(f"/rules/{i}/id", "profiles.duplicate_id", {"id": rule_id}))
                seen.add(rule_id)
    try:
        ruleset = RuleSet.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        # the duplicate check of RuleSet has no location: it is reported above, per rule
        errors = [e for e in errors if not (not e.get("loc") and e.get("type") == "value_error" and issues)]
        issues.extend(rule_issues(errors))
    if issues:
        raise ValidationFailed(issues)
    return ruleset, {k for k in _SETTINGS_FIELDS if k in data}


# --- storing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedProfile:
    rule: Rule
    outcome: Outcome


def _stored_rule(row: Any) -> Rule:
    try:
        return Rule.model_validate({**row.document, "version": row.version, "author": row.author})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigurationError("profiles.stored_invalid", id=row.id, detail=f"{'/'.join(map(str, first['loc']))}: {first['msg']}") from None


def _current(conn: Connection, profile_id: str, *, lock: bool = False) -> Any:
    query = select(risk_profiles).where(risk_profiles.c.id == profile_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def _document(rule: Rule) -> dict[str, Any]:
    return rule.model_dump(mode="json", exclude={"version", "author"}, exclude_none=True)


def _save(conn: Connection, rule: Rule, author: str | Principal, now: datetime) -> SavedProfile:
    actor, author = author, (author.name[:70] if isinstance(author, Principal) else author)
    current = _current(conn, rule.id, lock=True)
    if current is None:
        version, change = 1, "created"
    else:
        stored = _stored_rule(current)
        if stored.content() == rule.content():
            return SavedProfile(stored, "unchanged")
        version = current.version + 1
        change = "updated" if stored.active == rule.active else ("reactivated" if rule.active else "deactivated")
    saved = rule.model_copy(update={"version": version, "author": author})
    document = _document(saved)
    values = {
        "version": version,
        "active": saved.active,
        "lane": saved.lane.value if saved.lane is not None else None,
        "score": saved.score,
        "valid_from": saved.valid_from,
        "valid_to": saved.valid_to,
        "document": document,
        "author": author,
        "updated_at": now,
    }
    try:
        with conn.begin_nested():
            if current is None:
                conn.execute(insert(risk_profiles).values(id=saved.id, created_at=now, **values))
            else:
                result = conn.execute(
                    update(risk_profiles).where(risk_profiles.c.id == saved.id, risk_profiles.c.version == current.version).values(**values)
                )
                if result.rowcount != 1:
                    raise Conflict("profiles.conflict", id=saved.id)
            conn.execute(
                insert(risk_profile_versions).values(
                    profile_id=saved.id, version=version, change=change, document=document, author=author, saved_at=now
                )
            )
            audit.record(conn, actor, f"profile.{change}", "risk_profile", saved.id, after=document, **({} if current is None else {"before": current.document}))
    except IntegrityError:  # someone saved the same profile at the same moment
        raise Conflict("profiles.conflict", id=saved.id) from None
    return SavedProfile(saved, "created" if current is None else "updated")


def _author(principal: Principal) -> str:
    return principal.name[:70]


def put_profile(conn: Connection, document: dict[str, Any] | Rule, principal: Principal, *, now: datetime | None = None) -> SavedProfile:
    """Create or update a profile; the outcome says which (``unchanged`` when nothing differs).

    ``version`` and ``author`` in the document are ignored: the node numbers the versions and
    records the principal as the author.
    """
    require(principal, Action.EDIT_RISK)
    rule = document if isinstance(document, Rule) else parse_rule(document)
    return _save(conn, rule, principal, now or utcnow())


def save_profile(conn: Connection, document: dict[str, Any] | Rule, principal: Principal) -> Rule:
    """Create or update a profile (a new version); ValidationFailed with pointers on bad input."""
    return put_profile(conn, document, principal).rule


def deactivate_profile(conn: Connection, profile_id: str, principal: Principal, *, now: datetime | None = None) -> None:
    """Withdraw a profile (a new, inactive version); it stays in the history and can be reactivated."""
    require(principal, Action.EDIT_RISK)
    current = _current(conn, profile_id, lock=True)
    if current is None:
        raise NotFound("profiles.not_found", id=profile_id)
    rule = _stored_rule(current)
    if rule.active:
        _save(conn, rule.model_copy(update={"active": False}), principal, now or utcnow())


@dataclass(frozen=True)
class ProfileRecord:
    """A profile as stored: the current version and when it was created and last changed."""

    rule: Rule
    created_at: datetime
    updated_at: datetime


def get_record(conn: Connection, profile_id: str, principal: Principal) -> ProfileRecord:
    """A profile's current version with its creation and last change times."""
    require(principal, Action.READ_RISK)
    row = _current(conn, profile_id)
    if row is None:
        raise NotFound("profiles.not_found", id=profile_id)
    return ProfileRecord(_stored_rule(row), row.created_at, row.updated_at)


def get_profile(conn: Connection, profile_id: str, principal: Principal) -> Rule:
    return get_record(conn, profile_id, principal).rule


def list_profiles(conn: Connection, principal: Principal, *, active: bool | None = None) -> list[ProfileRecord]:
    require(principal, Action.READ_RISK)
    query = select(risk_profiles).order_by(risk_profiles.c.id)
    if active is not None:
        query = query.where(risk_profiles.c.active == active)
    return [ProfileRecord(_stored_rule(r), r.created_at, r.updated_at) for r in conn.execute(query)]


@dataclass(frozen=True)
class SavedVersion:
    version: int
    change: str
    author: str
    saved_at: datetime
    document: dict[str, Any]


def profile_history(conn: Connection, profile_id: str, principal: Principal) -> list[SavedVersion]:
    """Every saved version of a profile, oldest first."""
    require(principal, Action.READ_RISK)
    if _current(conn, profile_id) is None:
        raise NotFound("profiles.not_found", id=profile_id)
    rows = conn.execute(
        select(risk_profile_versions).where(risk_profile_versions.c.profile_id == profile_id).order_by(risk_profile_versions.c.version)
    )
    return [SavedVersion(r.version, r.change, r.author, r.saved_at, r.document) for r in rows]


# --- the rule set the node assesses with ---------------------------------------------------------


def _settings(conn: Connection) -> dict[str, Any]:
    value = node_settings.get(conn, SETTINGS_KEY)
    return json.loads(value) if value else {}


def _store_settings(conn: Connection, ruleset: RuleSet, fields: Iterable[str]) -> bool:
    """Record the given top-level settings of ``ruleset``; True when something changed."""
    current = _settings(conn)
    given = ruleset.model_dump(mode="json", include=set(fields))
    merged = {**current, **given}
    if merged == current:
        return False
    node_settings.put(conn, SETTINGS_KEY, json.dumps(merged, sort_keys=True))
    return True


def _ruleset_settings(conn: Connection) -> dict[str, Any]:
    stored = _settings(conn)
    return {
        "name": stored.get("name", "profiles"),
        "default_lane": Lane(stored.get("default_lane", Lane.GREEN.value)),
        "random_selection": RandomSelection.model_validate(stored.get("random_selection", {})),
    }


def load_ruleset(conn: Connection, *, name: str = "profiles") -> RuleSet:
    """The active profiles as a RuleSet, with the stored default lane and random selection."""
    rows = conn.execute(select(risk_profiles).where(risk_profiles.c.active.is_(True)).order_by(risk_profiles.c.id))
    settings = _ruleset_settings(conn)
    return RuleSet(name=name, default_lane=settings["default_lane"], random_selection=settings["random_selection"], rules=[_stored_rule(r) for r in rows])


def profiles_revision(conn: Connection) -> tuple[int, str]:
    """A value that changes whenever a profile or the rule-set settings change: a server process
    can compare it with the one it loaded to know that another process changed the profiles."""
    last = conn.execute(select(func.max(risk_profile_versions.c.id))).scalar() or 0
    stored = node_settings.get(conn, SETTINGS_KEY) or ""
    return int(last), stored


def seed_profiles(conn: Connection, ruleset: RuleSet, author: str, *, now: datetime | None = None) -> int:
    """On first start, copy ``ruleset`` (the shipped rules.yaml) into the empty table; the number copied."""
    if conn.dialect.name == "postgresql":  # two workers starting together: one seeds, the other sees it done
        node_settings.get(conn, node_settings.COUNTRY, for_update=True)
    if conn.execute(select(risk_profiles.c.id).limit(1)).first() is not None:
        return 0
    now = now or utcnow()
    for rule in ruleset.rules:
        _save(conn, rule, author[:70], now)
    if not _settings(conn):
        _store_settings(conn, ruleset, _SETTINGS_FIELDS)
    return len(ruleset.rules)


# --- cargo profiles: the screen of cargo reports -----------------------------------------------


def cargo_profiles(conn: Connection) -> list[Rule]:
    """The active cargo profiles (those with ``cargo`` conditions), by id."""
    rows = conn.execute(select(risk_profiles).where(risk_profiles.c.active.is_(True)).order_by(risk_profiles.c.id))
    return [_stored_rule(r) for r in rows if "cargo" in (r.document or {})]


def referral_reason(rule: Rule) -> str:
    """What the carrier reads as the reason of a referral a profile raised: its description, in
    French and in English (the referral has one text, read by the carrier in either language)."""
    return "\n".join(t("profile_referral.reason", lang, description=getattr(rule.description, lang)) for lang in ("fr", "en"))


def referral_author(rule: Rule) -> str:
    """Who refers, as the referral records it: the profile and its version."""
    return f"profile {rule.id} v{rule.version}"[:70]


class CargoScreen:
    """The node's screen of cargo reports (``avance.manifests.referrals.Screen``): each bill that
    an active cargo profile in force on the lodging day matches gets the referral the profile
    names, due ``deadline_hours`` after the lodging.

    The profiles are read from the table in the lodging's transaction, again whenever a profile
    was saved since (``profiles_revision``): a change made in any process of the node applies
    from the next lodging."""

    def __init__(self) -> None:
        self._loaded: tuple[int, tuple[Rule, ...]] | None = None

    def profiles(self, conn: Connection) -> tuple[Rule, ...]:
        revision, _ = profiles_revision(conn)
        loaded = self._loaded
        if loaded is None or loaded[0] != revision:
            loaded = (revision, tuple(cargo_profiles(conn)))
            self._loaded = loaded  # one assignment: threads of one process share it safely
        return loaded[1]

    def __call__(self, conn: Connection, report: CargoReport, *, now: datetime) -> list[ReferralAsk]:
        asks = []
        for rule, bill in cargo_matches(self.profiles(conn), report, now.date()):
            if rule.refer is None:  # never: a cargo profile has one (Rule._coherent)
                continue
            asks.append(
                ReferralAsk(
                    transport_document_reference=bill.transport_document_reference,
                    kind=rule.refer.kind,
                    reason=referral_reason(rule),
                    deadline=now + timedelta(hours=rule.refer.hours),
                    author=referral_author(rule),
                )
            )
        return asks


# --- YAML import and export ---------------------------------------------------------------------


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    settings_changed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deactivated or self.settings_changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deactivated": self.deactivated,
            "settings_changed": self.settings_changed,
        }


def import_yaml(conn: Connection, text: str, principal: Principal, *, replace: bool = False, now: datetime | None = None) -> ImportReport:
    """Create or update every profile of a YAML file (the rules.yaml form), all or nothing.

    With ``replace``, active profiles the file does not name are deactivated. The file's
    ``name``, ``default_lane`` and ``random_selection``, when given, replace the stored ones.
    """
    require(principal, Action.EDIT_RISK)
    ruleset, given = parse_ruleset(text)
    now = now or utcnow()
    author = principal
    report = ImportReport()
    for rule in ruleset.rules:
        saved = _save(conn, rule, author, now)
        getattr(report, saved.outcome).append(rule.id)
    if replace:
        named = {r.id for r in ruleset.rules}
        rows = conn.execute(select(risk_profiles).where(risk_profiles.c.active.is_(True)).order_by(risk_profiles.c.id))
        for row in list(rows):
            if row.id not in named:
                _save(conn, _stored_rule(row).model_copy(update={"active": False}), author, now)
                report.deactivated.append(row.id)
    report.settings_changed = _store_settings(conn, ruleset, given)
    return report


class _Dumper(yaml.SafeDumper):
    pass


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    text = format(value, "f")
    if "." in text:
        return dumper.represent_scalar("tag:yaml.org,2002:float", text)
    return dumper.represent_scalar("tag:yaml.org,2002:int", text)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    """Lists of codes on one line (``origin: [BE, FR]``), as an analyst writes them."""
    flat = all(isinstance(v, (str, int, Decimal)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


_Dumper.add_representer(Decimal, _represent_decimal)
_Dumper.add_representer(list, _represent_list)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):  # a lane, a referral kind
        return value.value
    return value


_ORDER = ("id", "version", "active", "description", "author", "valid_from", "valid_to", "when", "lane", "score", "cargo", "refer")


def _rule_document(rule: Rule) -> dict[str, Any]:
    dumped = _plain(rule.model_dump(mode="python", exclude_none=True))
    if rule.targets_cargo:
        dumped.pop("score", None)  # a cargo profile refers bills: it has no score
    return {k: dumped[k] for k in _ORDER if k in dumped}


def dump_yaml(document: Any) -> str:
    """YAML as an analyst writes it: exact decimals as numbers, lists of codes on one line."""
    return yaml.dump(_plain(document), Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096)


def profile_yaml(rule: Rule) -> str:
    """One profile in the form of a ``rules:`` entry."""
    return dump_yaml(_rule_document(rule))


def export_yaml(conn: Connection, *, now: datetime | None = None) -> str:
    """Every profile (inactive ones with ``active: false``) in the rules.yaml form; import reads it back."""
    rows = conn.execute(select(risk_profiles).order_by(risk_profiles.c.id))
    settings = _ruleset_settings(conn)
    rules = []
    for row in rows:
        rules.append(_rule_document(_stored_rule(row)))
    document = {
        "version": 1,
        "name": settings["name"],
        "default_lane": settings["default_lane"].value,
        "random_selection": _plain(settings["random_selection"].model_dump()),
        "rules": rules,
    }
    stamp = (now or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = (
        f"# Selectivity profiles exported by Avance on {stamp}.\n"
        "# `avance profiles import FILE` reads this file back; version and author are set by the node.\n"
    )
    return header + dump_yaml(document)


# --- hits and hit rates -------------------------------------------------------------------------


def hit_rows(declaration_id: int, reasons: list[dict[str, Any]], *, at: datetime | None = None) -> list[dict[str, Any]]:
    """One ``risk_profile_hits`` row per profile that hit, from a stored decision's reasons."""
    at = at or utcnow()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for reason in reasons:
        if reason.get("code") != "reason.rule_hit":
            continue
        params = reason.get("params") or {}
        profile_id = params.get("rule")
        if not profile_id or profile_id in seen:
            continue
        seen.add(str(profile_id))
        try:
            version = int(params.get("version", 1))
        except (TypeError, ValueError):
            version = 1
        lane = params.get("lane") if params.get("lane") in {lane.value for lane in Lane} else Lane.GREEN.value
        rows.append({"declaration_id": declaration_id, "profile_id": str(profile_id)[:64], "profile_version": version, "lane": lane, "at": at})
    return rows


def record_lodged_hits(conn: Connection, ctx: Any, lodged: Sequence[Lodged]) -> None:
    """The node's post-lodging step (``avance.declarations.extensions.AfterLodging``): record
    which profiles hit the declarations just stored (hit rates come from these and the
    inspection results)."""
    rows = [hit for item in lodged for hit in hit_rows(item.id, [r.to_record() for r in item.assessment.reasons], at=item.at)]
    if rows:
        conn.execute(insert(risk_profile_hits), rows)


def record_hits(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Store hit rows (from ``hit_rows``) in the caller's transaction; a hit already recorded is kept as is."""
    if not rows:
        return
    ids = {r["declaration_id"] for r in rows}
    known = {
        (r[0], r[1])
        for r in conn.execute(
            select(risk_profile_hits.c.declaration_id, risk_profile_hits.c.profile_id).where(risk_profile_hits.c.declaration_id.in_(ids))
        )
    }
    fresh = [r for r in rows if (r["declaration_id"], r["profile_id"]) not in known]
    if fresh:
        conn.execute(insert(risk_profile_hits), fresh)


def backfill_hits(conn: Connection, *, batch: int = 2000) -> int:
    """Record the hits of stored declarations that have none yet (declarations lodged before hit
    tracking); the hit time is the lodging time. Returns the number of hits recorded."""
    tracked = select(risk_profile_hits.c.declaration_id).distinct()
    count, last = 0, 0
    while True:
        rows = conn.execute(
            select(declarations.c.id, declarations.c.reasons, declarations.c.lodged_at)
            .where(declarations.c.id > last, declarations.c.id.not_in(tracked))
            .order_by(declarations.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return count
        pending = [hit for row in rows for hit in hit_rows(row.id, row.reasons or [], at=row.lodged_at)]
        record_hits(conn, pending)
        count += len(pending)
        last = rows[-1].id


@dataclass(frozen=True)
class ProfileStats:
    """How a profile performs over a period: hits, inspections, frauds found, extra duty recovered."""

    profile_id: str
    version: int | None  # current version; None when the profile is not in the table
    active: bool | None
    lane: str | None
    hits: int
    inspected: int
    frauds: int
    extra_duty: Decimal  # national currency
    currency: str | None

    @property
    def hit_rate(self) -> Decimal | None:
        """Frauds found per declaration inspected (None before any inspection)."""
        return _ratio(self.frauds, self.inspected)

    @property
    def inspection_rate(self) -> Decimal | None:
        """Declarations inspected per hit."""
        return _ratio(self.inspected, self.hits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "version": self.version,
            "active": self.active,
            "lane": self.lane,
            "hits": self.hits,
            "inspected": self.inspected,
            "frauds": self.frauds,
            "hit_rate": None if self.hit_rate is None else str(self.hit_rate),
            "inspection_rate": None if self.inspection_rate is None else str(self.inspection_rate),
            "extra_duty": format(self.extra_duty, "f"),
            "currency": self.currency,
        }


def _ratio(part: int, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


def _window(since: date | None, until: date | None) -> list[Any]:
    conditions = []
    if since is not None:
        conditions.append(risk_profile_hits.c.at >= datetime.combine(since, time.min, tzinfo=timezone.utc))
    if until is not None:
        conditions.append(risk_profile_hits.c.at < datetime.combine(until + timedelta(days=1), time.min, tzinfo=timezone.utc))
    return conditions


def _amount(text: Any) -> Decimal:
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return value if value.is_finite() else Decimal(0)


def profile_stats(conn: Connection, *, since: date | None = None, until: date | None = None) -> list[ProfileStats]:
    """Per profile, over the declarations it hit between ``since`` and ``until`` (dates, UTC, inclusive):
    hits, declarations inspected, frauds found, hit rate (frauds / inspected), extra duty recovered."""
    where = and_(True, *_window(since, until))
    hits = dict(
        conn.execute(select(risk_profile_hits.c.profile_id, func.count()).where(where).group_by(risk_profile_hits.c.profile_id)).all()
    )
    inspected: dict[str, int] = {}
    frauds: dict[str, int] = {}
    recovered: dict[str, Decimal] = {}
    currencies: set[str] = set()
    rows = conn.execute(
        select(risk_profile_hits.c.profile_id, declaration_events.c.data, declarations.c.currency)
        .join(declaration_events, and_(declaration_events.c.declaration_id == risk_profile_hits.c.declaration_id, declaration_events.c.kind == "inspected"))
        .join(declarations, declarations.c.id == risk_profile_hits.c.declaration_id)
        .where(where)
    )
    for profile_id, data, currency in rows:
        currencies.add(currency)
        inspected[profile_id] = inspected.get(profile_id, 0) + 1
        if (data or {}).get("fraud_found") is True:
            frauds[profile_id] = frauds.get(profile_id, 0) + 1
            recovered[profile_id] = recovered.get(profile_id, Decimal(0)) + _amount(data.get("extra_duty", "0"))
    currency = next(iter(currencies)) if len(currencies) == 1 else None
    if currency is None:
        currency = conn.execute(select(declarations.c.currency).limit(1)).scalar()
    profiles = {r.id: r for r in conn.execute(select(risk_profiles.c.id, risk_profiles.c.version, risk_profiles.c.active, risk_profiles.c.lane))}
    stats = []
    for profile_id in sorted(set(profiles) | set(hits)):
        p = profiles.get(profile_id)
        stats.append(
            ProfileStats(
                profile_id=profile_id,
                version=p.version if p is not None else None,
                active=p.active if p is not None else None,
                lane=p.lane if p is not None else None,
                hits=int(hits.get(profile_id, 0)),
                inspected=inspected.get(profile_id, 0),
                frauds=frauds.get(profile_id, 0),
                extra_duty=recovered.get(profile_id, Decimal(0)),
                currency=currency,
            )
        )
    return stats
