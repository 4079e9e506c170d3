"""One node, one administration: set-up and the context every request works with."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, insert, select

from avance.kit.settings import Settings
from avance.declarations.processing import NodeContext
from avance.kit.errors import ConfigurationError
from avance.reference import is_country, load_offices, shipped_offices
from avance.reference.rates import Rate, RateTable, parse_rate_file
from avance.revenue.profiles import UnknownCountryProfile, available_profiles, load_profile
from avance.revenue.schedule import Schedule
from avance.risk.engine.service import load_engine
from avance.risk.profiles.service import seed_profiles
from avance.risk.profiles.rules import load_rules
from avance import migrations as migrate
from avance.store.engine import make_engine, write
from avance.reference.tables import exchange_rates
from avance.store.settings_table import node_settings


def read_country(conn: Connection) -> str | None:
    row = conn.execute(select(node_settings.c.value).where(node_settings.c.key == "country")).first()
    return row[0] if row else None


def init_node(engine: Engine, country: str, rules_file: Path | None = None) -> None:
    """Create or upgrade the schema and record which administration this node serves.

    On first start the selectivity profiles are seeded from ``rules_file`` (default: the rules
    shipped with Avance); afterwards analysts manage them through the API and the CLI."""
    country = country.upper()
    if not is_country(country):
        raise ConfigurationError("config.unknown_country", country=country)
    if country not in available_profiles():
        raise ConfigurationError("config.no_profile", country=country, available=available_profiles())
    migrate.upgrade(engine)
    with write(engine) as conn:
        existing = read_country(conn)
        if existing and existing != country:
            raise ConfigurationError("config.country_mismatch", node=existing, asked=country)
        if existing is None:
            conn.execute(insert(node_settings).values(key="country", value=country))
        seed_profiles(conn, load_rules(rules_file), author="avance init")


def load_rates(conn: Connection, national: str) -> RateTable:
    rows = conn.execute(select(exchange_rates.c.currency, exchange_rates.c.valid_from, exchange_rates.c.rate))
    return RateTable(national, [Rate(r[0], r[1], r[2]) for r in rows])


def store_rates(conn: Connection, rates: list[Rate]) -> int:
    """Load dated rates; a rate for the same currency and date replaces the old one."""
    now = datetime.now(timezone.utc)
    for rate in rates:
        conn.execute(delete(exchange_rates).where(exchange_rates.c.currency == rate.currency, exchange_rates.c.valid_from == rate.valid_from))
    if rates:
        conn.execute(
            insert(exchange_rates),
            [{"currency": r.currency, "valid_from": r.valid_from, "rate": r.rate, "loaded_at": now} for r in rates],
        )
    return len(rates)


def load_rate_file(engine: Engine, path: Path) -> int:
    with write(engine) as conn:
        country = _require_country(conn)
        rates = parse_rate_file(path, load_profile(country).currency)
        return store_rates(conn, rates)


def _require_country(conn: Connection) -> str:
    country = read_country(conn)
    if country is None:
        raise ConfigurationError("config.not_initialised")
    return country


@dataclass
class Node:
    """A running node: its engine and its context (reloaded when rates change)."""

    settings: Settings
    engine: Engine
    context: NodeContext = field(init=False)

    def __post_init__(self) -> None:
        self.reload()

    def reload(self) -> None:
        with self.engine.connect() as conn:
            try:
                country = _require_country(conn)
            except Exception as exc:  # no schema yet counts as not initialised
                if isinstance(exc, ConfigurationError):
                    raise
                raise ConfigurationError("config.not_initialised") from None
            if self.settings.country and self.settings.country.upper() != country:
                raise ConfigurationError("config.country_mismatch", node=country, asked=self.settings.country.upper())
            try:
                profile = load_profile(country)
            except UnknownCountryProfile:
                raise ConfigurationError("config.no_profile", country=country, available=available_profiles()) from None
            rates = load_rates(conn, profile.currency)
            assessor = load_engine(self.settings, conn)
        schedule = Schedule.from_csv(self.settings.schedule_file) if self.settings.schedule_file else Schedule.default(country)
        offices = load_offices(self.settings.offices_file) if self.settings.offices_file else shipped_offices()
        self.context = NodeContext(
            country=country,
            currency=profile.currency,
            profile=profile,
            schedule=schedule,
            rates=rates,
            offices=offices,
            assessor=assessor,
            arrival_past_days=self.settings.arrival_past_days,
            arrival_future_days=self.settings.arrival_future_days,
        )
        assessor.context = self.context

    def reload_valuation(self) -> None:
        """Use the valuation references and overrides as they now stand in the database."""
        from avance.risk.valuation.service import ValuationIndex

        with self.engine.connect() as conn:
            self.context.assessor.valuation = ValuationIndex.load(conn)

    def reload_profiles(self) -> None:
        """Use the profiles as they now stand in the database (after an analyst changed them)."""
        from avance.risk.profiles.service import load_ruleset

        with self.engine.connect() as conn:
            self.context.assessor.ruleset = load_ruleset(conn)


def open_node(settings: Settings) -> Node:
    return Node(settings, make_engine(settings.resolved_database_url()))
