"""The composition root: a node is built here, in one place, in this order:

settings → database engine → reference context (profile, schedule, rates, offices) → risk engine
(profiles, valuation references, learned model, selection policy) → node context (with the steps
that follow a lodging and the annexes of a declaration's detail) → the exchange inbox's handlers →
the exchange worker's periodic jobs.

No capability registers itself as a side effect of being imported, and nothing is patched into an
object after it is built: what one capability adds to another is wired below, explicitly.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine

from avance import migrations
from avance.audit import service as audit
from avance.declarations.processing import NodeContext
from avance.exchange import inbox as exchange_inbox
from avance.exchange.inbox import Handler, handler_table
from avance.exchange import keys as exchange_keys
from avance.exchange.worker import Job
from avance.kit.errors import ConfigurationError
from avance.kit.settings import Settings
from avance.manifests import writeoff
from avance.movements import handlers as movement_handlers
from avance.movements import jobs as movement_jobs
from avance.movements.matching.model import policy_from as matching_policy
from avance.movements.matching.service import MirrorControlAtLodging, annex as mirror_control_annex
from avance.reference import is_country
from avance.reference.rates import parse_rate_file
from avance.reference.service import store_rates
from avance.revenue.context import ReferenceContext, country_profile, reference_context, require_country
from avance.revenue.profiles import available_profiles
from avance.risk.engine.service import LearnedAssessor, load_engine
from avance.risk.learning.registry import current_name
from avance.risk.policy.quotas import CountLanes, SharedQuotas
from avance.risk.policy.service import ensure_secret
from avance.risk.profiles.rules import load_rules
from avance.risk.profiles.service import CargoScreen, record_lodged_hits, seed_profiles
from avance.store import node_settings
from avance.store.engine import make_engine, write


def init_node(engine: Engine, country: str, rules_file: Path | None = None) -> None:
    """Create or upgrade the schema and record which administration this node serves.

    On first start the selectivity profiles are seeded from ``rules_file`` (default: the rules
    shipped with Avance); afterwards analysts manage them through the API and the CLI. The node's
    selection secret (the key of the random draw) is created when it has none."""
    country = country.upper()
    if not is_country(country):
        raise ConfigurationError("config.unknown_country", country=country)
    if country not in available_profiles():
        raise ConfigurationError("config.no_profile", country=country, available=available_profiles())
    migrations.upgrade(engine)
    with write(engine) as conn:
        existing = node_settings.read_country(conn)
        if existing and existing != country:
            raise ConfigurationError("config.country_mismatch", node=existing, asked=country)
        if existing is None:
            node_settings.put(conn, node_settings.COUNTRY, country)
        seed_profiles(conn, load_rules(rules_file), author="avance init")
        ensure_secret(conn)


def load_rate_file(engine: Engine, path: Path, actor: object = audit.SYSTEM) -> int:
    """Load a CSV of dated exchange rates into the node (``avance rates load``); each new or
    replaced rate is recorded in the audit trail as ``actor``'s (the replaced rate in full)."""
    with write(engine) as conn:
        rates = parse_rate_file(path, country_profile(require_country(conn)).currency)
        audit.record_rates(conn, actor, rates)
        return store_rates(conn, rates)


def audit_keyring(settings: Settings) -> audit.Keyring:
    """The node's exchange identity as the audit trail signs and verifies with it. A public key is
    trusted as derived from its private key file when the file is there (someone who rewrote the
    ``exchange_keys`` table gains nothing); a retired key whose file is gone, as registered."""

    def identity(conn: Connection) -> tuple[str, audit.HeadSigner]:
        return exchange_keys.node_id(conn), exchange_keys.signer(conn, settings.data_dir)

    def public_keys(conn: Connection) -> dict[str, Ed25519PublicKey]:
        trusted = {}
        for key in exchange_keys.own_keys(conn):
            try:
                trusted[key.kid] = exchange_keys.private_key(settings.data_dir, key.kid).public_key()
            except ConfigurationError:  # no file: the key expired after a rotation
                trusted[key.kid] = exchange_keys.load_public_key(key.public_key)
        return trusted

    return audit.Keyring(identity=identity, public_keys=public_keys)


def node_context(settings: Settings, reference: ReferenceContext, assessor: LearnedAssessor, quotas: SharedQuotas | None = None) -> NodeContext:
    """The context lodging works with: the reference data, the risk engine, and what the other
    capabilities add to a lodging (the lanes counted on the quotas the node's processes share,
    profile hits, then mirror control, which may raise the lane)."""
    counting = (CountLanes(quotas, assessor.selector.config.period),) if quotas is not None and isinstance(assessor, LearnedAssessor) else ()
    return NodeContext(
        **{f.name: getattr(reference, f.name) for f in fields(ReferenceContext)},
        assessor=assessor,
        after_lodging=(*counting, record_lodged_hits, MirrorControlAtLodging(matching_policy(settings))),
        annexes=(("mirror_control", mirror_control_annex),),
    )


def build_context(settings: Settings, engine: Engine, quotas: SharedQuotas | None = None) -> NodeContext:
    """Reference context, risk engine and node context, read from the node's database; with
    ``quotas``, the selection policy counts on the quota rows every process of the node shares."""
    with engine.connect() as conn:
        reference = reference_context(conn, settings)
        assessor = load_engine(settings, conn, reference)
    if quotas is not None:
        assessor = dataclasses.replace(assessor, selector=assessor.selector.sharing(quotas))
    return node_context(settings, reference, assessor, quotas)


def inbox_handlers(settings: Settings) -> dict[str, Handler]:
    """The explicit table of the exchange inbox: the exchange's own messages and those of mirror
    control and transit."""
    return handler_table(movement_handlers.handlers(settings))


def worker_jobs(settings: Settings) -> tuple[Job, ...]:
    """Periodic work of the exchange worker beside its senders: the movements' sweeps, the
    manifest write-off findings raised as alerts, and the audit trail's head signed, every hour."""
    return (
        *movement_jobs.jobs(settings),
        Job("write-off-alerts", 3600.0, _raise_write_off_alerts),
        Job("audit-sign", audit.SIGN_EVERY_SECONDS, audit.signing_job(audit_keyring(settings))),
        Job("exchange-rejections", 3600.0, partial(_sweep_rejections, settings)),
    )


def _sweep_rejections(settings: Settings, engine: Engine) -> None:
    exchange_inbox.sweep_rejections(engine, retention_days=settings.exchange_rejection_retention_days, sample=settings.exchange_rejection_sample)


def _raise_write_off_alerts(engine: Engine) -> None:
    with write(engine) as conn:
        writeoff.raise_alerts(conn)


CHECK_SECONDS = 1.0
"""How often, at most, a process compares the node's change counters with what it loaded."""

log = logging.getLogger("avance.node")


@dataclass
class Node:
    """A running node: its settings, engine and context, the inbox handlers and the worker's jobs.

    Several processes (``avance serve --workers N``, several hosts, ``avance worker``) on one
    database behave as one node. Each holds the profiles, valuation references, model, policy and
    rates in memory; a change made by any of them bumps a counter (``node_settings.node_generations``)
    in its own transaction, and ``context`` compares the counters at most once a second
    (``refresh``) and reloads what changed, the installed model included (the models directory's
    ``CURRENT``). The selection policy counts on quota rows every process shares
    (``avance.risk.policy.quotas``).

    ``background``: whether this process runs the exchange senders and the periodic jobs when it
    serves (``avance serve --no-worker`` beside an ``avance worker``).

    ``screen_cargo``: the cargo profiles, which judge the bills of every cargo report lodged
    (``avance.manifests.referrals.Screen``); the lodging routes hand it to ``manifests.service.lodge``.
    """

    settings: Settings
    engine: Engine
    background: bool = True
    handlers: dict[str, Handler] = field(init=False)
    jobs: tuple[Job, ...] = field(init=False)
    quotas: SharedQuotas = field(init=False, repr=False)
    screen_cargo: CargoScreen = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.handlers = inbox_handlers(self.settings)
        self.screen_cargo = CargoScreen()
        self.jobs = worker_jobs(self.settings)
        self.quotas = SharedQuotas(self.engine)
        self._loading = threading.Lock()
        self._next_check = 0.0
        self._seen: dict[str, int] = {}
        self._model: str | None = None
        self._rebuild()

    @property
    def context(self) -> NodeContext:
        """The node's context, as every process of the node last changed it (checked at most
        once a second)."""
        self.refresh()
        return self._context

    def reload(self) -> None:
        """Use the model, the policy file and everything else as they now stand, in this process
        and, within a second or two, in every other process of the node."""
        with write(self.engine) as conn:
            node_settings.bump(conn, node_settings.MODEL, node_settings.POLICY)
        with self._loading:
            self._rebuild()

    def reload_valuation(self) -> None:
        """Use the valuation references and overrides as they now stand in the database."""
        with self._loading, self.engine.connect() as conn:
            generation = node_settings.generations(conn)[node_settings.VALUATION]
            self._context.assessor.reload_valuation(conn)  # type: ignore[attr-defined]
            self._seen[node_settings.VALUATION] = generation

    def reload_profiles(self) -> None:
        """Use the profiles as they now stand in the database (after an analyst changed them)."""
        with self._loading, self.engine.connect() as conn:
            generation = node_settings.generations(conn)[node_settings.PROFILES]
            self._context.assessor.reload_profiles(conn)  # type: ignore[attr-defined]
            self._seen[node_settings.PROFILES] = generation

    def refresh(self, *, force: bool = False) -> frozenset[str]:
        """Reload what another process changed since this one loaded it; what was reloaded.

        At most once every ``CHECK_SECONDS`` unless ``force``; a thread that finds another one
        checking goes on with the context as it is. A database that does not answer, or a model
        that cannot be read, leaves the context as it is (the next check tries again)."""
        now = time.monotonic()
        if not force and now < self._next_check:
            return frozenset()
        if not self._loading.acquire(blocking=force):
            return frozenset()
        try:
            self._next_check = now + CHECK_SECONDS
            with self.engine.connect() as conn:
                seen = node_settings.generations(conn)
            changed = {kind for kind, generation in seen.items() if generation != self._seen.get(kind)}
            if current_name(self.settings.resolved_models_dir()) != self._model:
                changed.add(node_settings.MODEL)
            if changed:
                self._apply(changed)
            return frozenset(changed)
        except Exception as exc:  # the database is down, a model file is broken: try again at the next check
            log.warning("node refresh: %s: %s", type(exc).__name__, exc)
            return frozenset()
        finally:
            self._loading.release()

    def _apply(self, changed: set[str]) -> None:
        if changed & {node_settings.MODEL, node_settings.POLICY}:
            self._rebuild()
            return
        with self.engine.connect() as conn:
            seen = node_settings.generations(conn)  # read before the data: a change meanwhile is seen at the next check
            assessor = self._context.assessor
            if node_settings.RATES in changed:
                reference = reference_context(conn, self.settings)
                if isinstance(assessor, LearnedAssessor):
                    assessor = dataclasses.replace(assessor, reference=reference)
                self._context = node_context(self.settings, reference, assessor, self.quotas)
            if node_settings.PROFILES in changed:
                assessor.reload_profiles(conn)  # type: ignore[attr-defined]
            if node_settings.VALUATION in changed:
                assessor.reload_valuation(conn)  # type: ignore[attr-defined]
        self._seen.update({kind: seen[kind] for kind in changed})

    def _rebuild(self) -> None:
        with self.engine.connect() as conn:
            seen = node_settings.generations(conn)
        model = current_name(self.settings.resolved_models_dir())
        self._context = build_context(self.settings, self.engine, self.quotas)
        self._seen, self._model = seen, model
        self._next_check = time.monotonic() + CHECK_SECONDS


def open_node(settings: Settings, *, background: bool = True) -> Node:
    """The node ``settings`` configure: its database must have been initialised (``avance init``).
    ``background``: whether it runs the exchange senders and periodic jobs when it serves."""
    return Node(settings, make_engine(settings.resolved_database_url()), background)
