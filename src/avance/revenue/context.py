"""A node's reference context: what valuing and taxing goods needs (its country's profile and
schedule, the exchange rates, the offices), built from the settings and the store.

Lodging (``declarations``), mirror control and transit (``movements``) and the valuation references
(``risk``) all work from one ``ReferenceContext``; ``avance.bootstrap`` builds the node's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection

from avance.kit.errors import ConfigurationError, Issue
from avance.kit.settings import Settings
from avance.reference import Office, load_offices, shipped_offices
from avance.reference.rates import RateTable
from avance.reference.service import load_rates
from avance.revenue.profiles import CountryProfile, UnknownCountryProfile, available_profiles, load_profile
from avance.revenue.schedule import Schedule
from avance.store.node_settings import read_country


@dataclass(frozen=True)
class ReferenceContext:
    """A node's reference data: its country's profile, schedule, exchange rates and offices.
    Valuing and taxing goods needs no more (mirror control and transit use it alone)."""

    country: str
    currency: str
    profile: CountryProfile
    schedule: Schedule
    rates: RateTable
    offices: dict[str, Office]
    arrival_past_days: int = field(default=30, kw_only=True)
    """How far before registration an arrival may lie."""
    arrival_future_days: int = field(default=120, kw_only=True)
    """How far after registration an arrival may lie."""
    clock_skew: timedelta = field(default=timedelta(seconds=600), kw_only=True)
    segregation_of_duties: bool = field(default=True, kw_only=True)
    """Whether the officer who recorded a red-lane control may not release it (AVANCE_SEGREGATION_OF_DUTIES)."""
    """How far in the future a reported time may lie (clocks differ): the node's one allowance."""


def require_country(conn: Connection) -> str:
    """The administration this node serves; a clear error before ``avance init``."""
    try:
        country = read_country(conn)
    except Exception as exc:  # no schema yet counts as not initialised
        if isinstance(exc, ConfigurationError):
            raise
        raise ConfigurationError("config.not_initialised") from None
    if country is None:
        raise ConfigurationError("config.not_initialised")
    return country


def country_profile(country: str) -> CountryProfile:
    """The duty profile of ``country``; a configuration error names the profiles there are."""
    try:
        return load_profile(country)
    except UnknownCountryProfile:
        raise ConfigurationError("config.no_profile", country=country, available=available_profiles()) from None


@lru_cache(maxsize=8)
def _static(country: str, schedule_file: Path | None, offices_file: Path | None) -> tuple[CountryProfile, Schedule, dict[str, Office]]:
    profile = country_profile(country)
    schedule = Schedule.from_csv(schedule_file) if schedule_file else Schedule.default(country)
    offices = load_offices(offices_file) if offices_file else shipped_offices()
    return profile, schedule, offices


def reference_context(conn: Connection, settings: Settings) -> ReferenceContext:
    """This node's reference context read through ``conn``.

    Rates are read from the database each time, so that a rate loaded a minute ago applies; the
    profile, schedule and offices are read once per process from their files.
    """
    country = require_country(conn)
    if settings.country and settings.country.upper() != country:
        raise ConfigurationError("config.country_mismatch", node=country, asked=settings.country.upper())
    profile, schedule, offices = _static(country, settings.schedule_file, settings.offices_file)
    return ReferenceContext(
        country,
        profile.currency,
        profile,
        schedule,
        load_rates(conn, profile.currency),
        offices,
        arrival_past_days=settings.arrival_past_days,
        arrival_future_days=settings.arrival_future_days,
        clock_skew=timedelta(seconds=settings.clock_skew_seconds),
        segregation_of_duties=settings.segregation_of_duties,
    )


def check_office(ctx: ReferenceContext, office_code: str, mode: int, issues: list[Issue]) -> Office | None:
    """The node's office ``office_code``, if it exists and handles transport ``mode``."""
    office = ctx.offices.get(office_code)
    if office is None or office.country != ctx.country:
        issues.append(Issue("/office_code", "office.unknown", {"code": office_code, "country": ctx.country}))
        return None
    if office.modes and mode not in office.modes:
        issues.append(Issue("/transport_mode_code", "office.mode", {"mode": mode, "office": office.code}))
    return office
