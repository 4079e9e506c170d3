"""Duties and taxes on imports: country profiles, national tariff schedules, the calculator.

Profiles (``profiles/<CC>.yaml``), bloc membership (``blocs.yaml``) and schedules
(``schedules/<CC>.csv``) are data, described in ``docs/tariffs.md``; this package only reads
them and computes. ``avance duty`` (``avance.revenue.cli.duty``) is the command-line front.
"""

from avance.revenue.calculator import (
    DutyBreakdown,
    DutyItemInput,
    DutyLine,
    InvalidDutyInput,
    NoTariffLine,
    combine,
    compute_duties,
)
from avance.revenue.profiles import (
    Blocs,
    CountryProfile,
    ProfileError,
    UnknownBloc,
    UnknownCountryProfile,
    available_profiles,
    clear_caches,
    load_blocs,
    load_profile,
)
from avance.revenue.schedule import Schedule, ScheduleError, TariffLine

__all__ = [
    "Blocs",
    "CountryProfile",
    "DutyBreakdown",
    "DutyItemInput",
    "DutyLine",
    "InvalidDutyInput",
    "NoTariffLine",
    "ProfileError",
    "Schedule",
    "ScheduleError",
    "TariffLine",
    "UnknownBloc",
    "UnknownCountryProfile",
    "available_profiles",
    "clear_caches",
    "combine",
    "compute_duties",
    "load_blocs",
    "load_profile",
]
