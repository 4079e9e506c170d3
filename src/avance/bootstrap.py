"""The composition root: a node is built here, in one place, in this order:

settings → database engine → reference context (profile, schedule, rates, offices) → risk engine
(profiles, valuation references, learned model, selection policy) → node context (with the steps
that follow a lodging and the annexes of a declaration's detail) → the exchange inbox's handlers →
the exchange worker's periodic jobs.

No capability registers itself as a side effect of being imported, and nothing is patched into an
object after it is built: what one capability adds to another is wired below, explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from sqlalchemy import Engine

from avance import migrations
from avance.declarations.processing import NodeContext
from avance.exchange.inbox import Handler, handler_table
from avance.exchange.worker import Job
from avance.kit.errors import ConfigurationError
from avance.kit.settings import Settings
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
from avance.risk.policy.service import ensure_secret
from avance.risk.profiles.rules import load_rules
from avance.risk.profiles.service import record_lodged_hits, seed_profiles
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


def load_rate_file(engine: Engine, path: Path) -> int:
    """Load a CSV of dated exchange rates into the node (``avance rates load``)."""
    with write(engine) as conn:
        rates = parse_rate_file(path, country_profile(require_country(conn)).currency)
        return store_rates(conn, rates)


def node_context(settings: Settings, reference: ReferenceContext, assessor: LearnedAssessor) -> NodeContext:
    """The context lodging works with: the reference data, the risk engine, and what the other
    capabilities add to a lodging (profile hits, then mirror control, which may raise the lane)."""
    return NodeContext(
        **{f.name: getattr(reference, f.name) for f in fields(ReferenceContext)},
        assessor=assessor,
        after_lodging=(record_lodged_hits, MirrorControlAtLodging(matching_policy(settings))),
        annexes=(("mirror_control", mirror_control_annex),),
    )


def build_context(settings: Settings, engine: Engine) -> NodeContext:
    """Reference context, risk engine and node context, read from the node's database."""
    with engine.connect() as conn:
        reference = reference_context(conn, settings)
        assessor = load_engine(settings, conn, reference)
    return node_context(settings, reference, assessor)


def inbox_handlers(settings: Settings) -> dict[str, Handler]:
    """The explicit table of the exchange inbox: the exchange's own messages and those of mirror
    control and transit."""
    return handler_table(movement_handlers.handlers(settings))


def worker_jobs(settings: Settings) -> tuple[Job, ...]:
    """Periodic work of the exchange worker beside its senders."""
    return tuple(movement_jobs.jobs(settings))


@dataclass
class Node:
    """A running node: its settings, engine and context, the inbox handlers and the worker's jobs.

    ``reload`` builds the context again (after new rates, a retrained model or another policy);
    the risk engine reloads its own profiles and valuation references when analysts change them.
    """

    settings: Settings
    engine: Engine
    context: NodeContext = field(init=False)
    handlers: dict[str, Handler] = field(init=False)
    jobs: tuple[Job, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.handlers = inbox_handlers(self.settings)
        self.jobs = worker_jobs(self.settings)
        self.reload()

    def reload(self) -> None:
        self.context = build_context(self.settings, self.engine)

    def reload_valuation(self) -> None:
        """Use the valuation references and overrides as they now stand in the database."""
        with self.engine.connect() as conn:
            self.context.assessor.reload_valuation(conn)  # type: ignore[attr-defined]

    def reload_profiles(self) -> None:
        """Use the profiles as they now stand in the database (after an analyst changed them)."""
        with self.engine.connect() as conn:
            self.context.assessor.reload_profiles(conn)  # type: ignore[attr-defined]


def open_node(settings: Settings) -> Node:
    """The node ``settings`` configure: its database must have been initialised (``avance init``)."""
    return Node(settings, make_engine(settings.resolved_database_url()))
