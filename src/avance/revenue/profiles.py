"""Country profiles: which duties and taxes a country levies, on which base, at which rate, when.

A profile is a YAML file (``profiles/<CC>.yaml``, described in ``docs/tariffs.md``) validated
into a frozen :class:`CountryProfile`. Bloc membership (for "origin outside X" and community
preferences) comes from ``blocs.yaml`` as dated :class:`Blocs`. Nothing about a country lives in
code: an administration corrects a rate by editing its files, or by pointing ``AVANCE_TARIFF_DIR``
at a directory holding its own ``profiles/<CC>.yaml``, ``schedules/<CC>.csv`` and ``blocs.yaml``.

Everything that changes with time (a line's rate, hence when the line is due; the standard VAT
rate; a bloc's members) has one form, a :class:`Timeline`: values by start date, newest first,
each with its legal reference, as OpenFisca keeps legislation. A law that changes a rate adds an
entry; it never overwrites the old value, so a declaration registered before the change is still
assessed at the rate of its day. ``value: null`` ends the value below it.

Numbers in these files are read as ``Decimal``, never ``float``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import pycountry
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    RootModel,
    StringConstraints,
    ValidationError,
    model_validator,
)

from avance.kit.datafiles import DataFileError, read_yaml
from avance.kit.money import is_currency
from avance.revenue.schedule import _default

PACKAGE_DIR = Path(__file__).resolve().parent
OVERRIDE_ENV = "AVANCE_TARIFF_DIR"
"""A directory whose ``profiles/<CC>.yaml`` and ``blocs.yaml`` replace the shipped files."""

SCHEDULE_DUTY = "schedule.duty"
SCHEDULE_EXCISE = "schedule.excise"
SCHEDULE_VAT = "schedule.vat_or_standard"
RATE_SOURCES: tuple[str, ...] = (SCHEDULE_DUTY, SCHEDULE_EXCISE, SCHEDULE_VAT)
VALUE_TERMS = frozenset({"CV", "FOB"})
"""Base terms that are declared values: customs value (CIF) and FOB value, in national currency."""

_ALPHA2 = re.compile(r"[A-Z]{2}")
T = TypeVar("T")
Period = tuple[date | None, date | None]
"""First and last day (inclusive); None = open."""


# --- errors ------------------------------------------------------------------------------------


class UnknownCountryProfile(LookupError):
    """No profile file exists for ``country``."""

    def __init__(self, country: str) -> None:
        super().__init__(country)
        self.country = country

    def __str__(self) -> str:
        return f"no duty profile for country {self.country!r}"


class UnknownBloc(LookupError):
    def __init__(self, bloc: str) -> None:
        super().__init__(bloc)
        self.bloc = bloc

    def __str__(self) -> str:
        return f"unknown bloc {self.bloc!r}"


class ProfileError(DataFileError):
    """A profile or bloc file is broken; ``source`` is the file, ``detail`` names the field and the reason."""

    @property
    def source(self) -> str:
        return self.path


# --- field types -------------------------------------------------------------------------------


def _percent(value: Any) -> Decimal:
    if isinstance(value, (bool, float)):
        raise ValueError("rates are read as decimals, not floats")
    try:
        rate = Decimal(value) if isinstance(value, (int, str)) else value
    except InvalidOperation:
        rate = None
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate < 0:
        shown = value if isinstance(value, (Decimal, int)) else repr(value)
        raise ValueError(f"{shown} is not a rate (a number, zero or more)")
    return rate


def _rate_spec(value: Any) -> Decimal | str:
    if isinstance(value, (bool, float)):
        return _percent(value)
    if isinstance(value, str) and value.startswith("schedule."):
        if value not in RATE_SOURCES:
            raise ValueError(f"{value!r} is not a rate source; use one of {', '.join(RATE_SOURCES)}")
        return value
    if isinstance(value, str):
        try:
            Decimal(value)
        except InvalidOperation:
            sources = ", ".join(RATE_SOURCES)
            raise ValueError(f"{value!r} is neither a rate (a number, zero or more) nor one of {sources}") from None
    return _percent(value)


def _country(value: Any) -> str:
    known = isinstance(value, str) and _ALPHA2.fullmatch(value) and pycountry.countries.get(alpha_2=value)
    if not known:
        raise ValueError(f"{value!r} is not an ISO 3166 alpha-2 country code")
    return value


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _distinct_countries(value: Any) -> Any:
    if not isinstance(value, (list, tuple)):
        raise ValueError("give the members as a list of ISO 3166 alpha-2 codes")
    seen: set[Any] = set()
    for item in value:
        if item in seen:
            raise ValueError(f"{item} is listed twice")
        seen.add(item)
    return value


Percent = Annotated[Decimal, PlainValidator(_percent)]
RateSpec = Annotated[Decimal | str, PlainValidator(_rate_spec)]
CountryCode = Annotated[str, PlainValidator(_country)]
Members = Annotated[frozenset[CountryCode], BeforeValidator(_distinct_countries)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")]
CodeList = Annotated[tuple[Code, ...], BeforeValidator(_listify)]
HsPrefix = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,12}$")]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Confidence = Literal["high", "medium", "low"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _overlap(a: tuple[Period, ...], b: tuple[Period, ...]) -> bool:
    """True when some period of ``a`` and some period of ``b`` share a day."""
    return any(
        (x[0] or date.min) <= (y[1] or date.max) and (y[0] or date.min) <= (x[1] or date.max) for x in a for y in b
    )


class LocalName(_Frozen):
    """A name in French and English."""

    fr: Text
    en: Text

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.fr


# --- dated values ------------------------------------------------------------------------------

_DATED_SHAPE = "{valid_from: YYYY-MM-DD, value: ..., legal_basis: ...}"


class DatedValue(_Frozen, Generic[T]):
    """One value of something that changes with time, and the text that set it.

    In force from ``valid_from`` (inclusive) until the day before the next newer value starts.
    ``valid_from`` may be left out on the oldest value only: it then holds for every earlier date
    (its start is not recorded). ``value: null`` means "no longer in force": it ends the value
    below it (a levy abolished, a line replaced, a bloc dissolved).
    """

    valid_from: date | None = None
    value: T | None
    legal_basis: Text
    note: str | None = None


class Timeline(RootModel[tuple[DatedValue[T], ...]], Generic[T]):
    """Values by start date, newest first, each with its legal reference.

    Strict, so that a mistyped date cannot silently shadow a rate: one value per date, listed
    newest first, only the oldest without a date, and a ``null`` only where it ends a value.
    """

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _a_list(cls, data: Any) -> Any:
        if isinstance(data, Timeline):
            return data
        if not isinstance(data, (list, tuple)):
            raise ValueError(f"give a list of dated values, newest first: - {_DATED_SHAPE}")
        for i, item in enumerate(data):
            if not isinstance(item, (dict, DatedValue)):
                raise ValueError(f"[{i}] {item!r} is not a dated value: write {_DATED_SHAPE}")
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Timeline[T]:
        entries = self.root
        if not entries:
            raise ValueError(f"the list is empty: give at least one {_DATED_SHAPE}")
        last = len(entries) - 1
        for i, entry in enumerate(entries):
            if entry.valid_from is None and i != last:
                raise ValueError(f"[{i}].valid_from is missing: only the oldest (last) value may leave it out")
        for i, (newer, older) in enumerate(zip(entries, entries[1:])):
            if older.valid_from is None or newer.valid_from is None:
                continue
            if older.valid_from == newer.valid_from:
                raise ValueError(f"[{i}] and [{i + 1}] both start on {newer.valid_from}: one value per date")
            if older.valid_from > newer.valid_from:
                raise ValueError(
                    f"[{i + 1}] starts on {older.valid_from}, after [{i}] ({newer.valid_from}): list the values newest first"
                )
            if newer.value is None and older.value is None:
                raise ValueError(f"[{i}] and [{i + 1}] are both null: a null value ends the value below it")
        if entries[last].value is None:
            raise ValueError(f"[{last}]: the oldest value is null, so it ends nothing")
        return self

    @property
    def entries(self) -> tuple[DatedValue[T], ...]:
        return self.root

    def on(self, day: date) -> T | None:
        """The value in force on ``day``; None before the first value or after a ``null``."""
        for entry in self.root:
            if entry.valid_from is None or entry.valid_from <= day:
                return entry.value
        return None

    def periods(self) -> tuple[Period, ...]:
        """The periods (oldest first) during which some value is in force."""
        periods: list[Period] = []
        newer_start: date | None = None
        for entry in self.root:
            if entry.value is not None:
                periods.append((entry.valid_from, newer_start - timedelta(days=1) if newer_start else None))
            newer_start = entry.valid_from
        return tuple(reversed(periods))


# --- blocs -------------------------------------------------------------------------------------


class Bloc(_Frozen):
    """A bloc and its members: the whole member list per start date, so each entry reads as the
    bloc on that day."""

    name: LocalName
    members: Timeline[Members]
    note: str | None = None


class Blocs(_Frozen):
    """Dated membership of the economic communities, for ``origin_outside`` and preferences."""

    blocs: dict[Code, Bloc]

    def _timeline(self, bloc: str) -> Timeline[frozenset[str]]:
        try:
            return self.blocs[bloc].members
        except KeyError:
            raise UnknownBloc(bloc) from None

    def is_member(self, bloc: str, country: str, on: date) -> bool:
        """True when ``country`` belongs to ``bloc`` on ``on``; raises UnknownBloc."""
        members = self._timeline(bloc).on(on)
        return members is not None and country in members

    def members(self, bloc: str, on: date) -> frozenset[str]:
        """Every member of ``bloc`` on ``on``."""
        return self._timeline(bloc).on(on) or frozenset()

    def names(self) -> frozenset[str]:
        return frozenset(self.blocs)


# --- profiles ----------------------------------------------------------------------------------


class NamedBase(_Frozen):
    """A base used by several lines: ``terms`` plus, optionally, every line above except some."""

    terms: CodeList = ()
    every_line_except: CodeList | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> NamedBase:
        if not self.terms and self.every_line_except is None:
            raise ValueError("a named base needs terms, every_line_except, or both")
        return self


_MOVED_LINE_FIELDS = {
    "rates": "a line has one rate, a list of dated values",
    "valid_from": "a line is due while its rate has a value: date the rate's values (valid_from), end it with value: null",
    "valid_to": "a line is due while its rate has a value: end it with a newer rate value {valid_from: ..., value: null}",
    "legal_basis": "each value of the rate carries its own legal_basis",
}
"""Fields of the older profile form, refused with a hint so that a copied file is easy to update."""


class ProfileLine(_Frozen):
    """One duty or tax of a profile. See docs/tariffs.md for every field.

    The line is due on a day when it is switched on (``enabled``) and its ``rate`` has a value
    on that day: the rate's dates are the line's dates.
    """

    code: Code
    name: LocalName
    base: CodeList = Field(min_length=1)
    rate: Timeline[RateSpec]
    origin_outside: CodeList = ()
    exclude_hs_prefixes: Annotated[tuple[HsPrefix, ...], BeforeValidator(_listify)] = ()
    exempt_with_vat: bool = False
    enabled: bool = True
    confidence: Confidence
    note: str | None = None

    _periods: tuple[Period, ...] = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _no_older_form(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, hint in _MOVED_LINE_FIELDS.items():
                if key in data:
                    raise ValueError(f"{key} is no longer a field: {hint} (docs/tariffs.md)")
        return data

    @model_validator(mode="after")
    def _dates(self) -> ProfileLine:
        self._periods = self.rate.periods()
        return self

    @property
    def periods(self) -> tuple[Period, ...]:
        """The periods during which the line is due (switch aside)."""
        return self._periods

    def in_force(self, on: date) -> bool:
        return self.rate.on(on) is not None

    def rate_on(self, on: date) -> Decimal | str | None:
        """The number or rate source in force on ``on``; None when the line is not due then."""
        return self.rate.on(on)


@dataclass(frozen=True, slots=True)
class ResolvedBase:
    """A line's base with named bases expanded: declared values, explicit line codes, and
    (``every_line_except``) every line computed above it except the listed codes."""

    values: tuple[str, ...]
    lines: tuple[str, ...]
    every_line_except: frozenset[str] | None


class CountryProfile(_Frozen):
    """The duties and taxes of one country, in computation order."""

    country: CountryCode
    name: LocalName
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    vat_standard_rate: Timeline[Percent]
    preference_blocs: CodeList = ()
    bases: dict[Code, NamedBase] = Field(default_factory=dict)
    lines: tuple[ProfileLine, ...] = Field(min_length=1)
    blocs: Blocs
    note: str | None = None

    _resolved: tuple[ResolvedBase, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _coherent(self) -> CountryProfile:
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        self._resolved = tuple(_resolve(self, line) for line in self.lines)
        return self

    @property
    def resolved_bases(self) -> tuple[ResolvedBase, ...]:
        """The base of each line of ``lines`` (same order), named bases expanded."""
        return self._resolved

    def standard_vat_rate_on(self, on: date) -> Decimal | None:
        """The standard VAT rate on ``on``; None when no VAT was in force."""
        return self.vat_standard_rate.on(on)

    def grants_preference(self, origin: str, on: date) -> bool:
        """True when the country and ``origin`` share a preference bloc on ``on``."""
        return any(
            self.blocs.is_member(bloc, self.country, on) and self.blocs.is_member(bloc, origin, on)
            for bloc in self.preference_blocs
        )


def _ref(index: int, line: ProfileLine) -> str:
    return f"lines[{index}] ({line.code})"


def _problems(profile: CountryProfile) -> list[str]:
    """Cross-field checks: references resolve, lines come after what they use, nothing counts twice."""
    problems: list[str] = []
    codes = {line.code for line in profile.lines}
    blocs = profile.blocs.names()
    if not is_currency(profile.currency):
        problems.append(f"currency: {profile.currency} is not an ISO 4217 currency code")
    for bloc in profile.preference_blocs:
        if bloc not in blocs:
            problems.append(f"preference_blocs: unknown bloc {bloc} (blocs.yaml has {', '.join(sorted(blocs))})")
    for name, named in profile.bases.items():
        if name in VALUE_TERMS or name in codes:
            problems.append(f"bases.{name}: the name is already a value term or a line code")
        for term in named.terms:
            if term not in VALUE_TERMS and term not in codes:
                problems.append(f"bases.{name}.terms: {term} is neither CV, FOB nor a line code")
        for code in named.every_line_except or ():
            if code not in codes:
                problems.append(f"bases.{name}.every_line_except: {code} is not a line code")
    for i, line in enumerate(profile.lines):
        where = _ref(i, line)
        for bloc in line.origin_outside:
            if bloc not in blocs:
                problems.append(f"{where}.origin_outside: unknown bloc {bloc}")
        for j, other in enumerate(profile.lines[:i]):
            if other.code == line.code and _overlap(other.periods, line.periods):
                problems.append(f"{where}: its validity overlaps that of {_ref(j, other)} (same code)")
        problems.extend(_base_problems(profile, i, line, codes))
    return problems


def _base_problems(profile: CountryProfile, i: int, line: ProfileLine, codes: set[str]) -> list[str]:
    where = f"{_ref(i, line)}.base"
    problems: list[str] = []
    for term in line.base:
        if term not in VALUE_TERMS and term not in codes and term not in profile.bases:
            problems.append(f"{where}: unknown term {term} (use CV, FOB, a line code or a name under bases)")
    if problems:
        return problems
    explicit: list[str] = []
    excepts: list[frozenset[str]] = []
    for term in line.base:
        named = profile.bases.get(term)
        if named is None:
            explicit.append(term)
        else:
            explicit.extend(named.terms)
            if named.every_line_except is not None:
                excepts.append(frozenset(named.every_line_except))
    if line.code in explicit:
        problems.append(f"{where}: a line cannot be computed on itself")
    for term in sorted({t for t in explicit if explicit.count(t) > 1}):
        problems.append(f"{where}: {term} is counted twice")
    if len(excepts) > 1:
        problems.append(f"{where}: more than one base adds 'every line except'")
    for j, other in enumerate(profile.lines):
        if j == i or not _overlap(other.periods, line.periods):
            continue
        if other.code in explicit and j > i:
            problems.append(f"{where}: uses {other.code}, so {_ref(j, other)} must come before it in the list")
    if len(excepts) == 1:
        excluded = excepts[0]
        if line.code not in excluded:
            problems.append(
                f"{where}: its base includes every line except {sorted(excluded)}, "
                f"so {line.code} must be one of those exceptions"
            )
        for term in explicit:
            if term in codes and term not in excluded:
                problems.append(f"{where}: {term} is counted twice (listed, and included as 'every line')")
        for j, other in enumerate(profile.lines):
            if j > i and other.code not in excluded and _overlap(other.periods, line.periods):
                problems.append(
                    f"{where}: its base includes every line above it except {sorted(excluded)}, but "
                    f"{_ref(j, other)} comes after it: move {other.code} up or add it to the exceptions"
                )
    return problems


def _resolve(profile: CountryProfile, line: ProfileLine) -> ResolvedBase:
    values: list[str] = []
    lines: list[str] = []
    every: frozenset[str] | None = None
    for term in line.base:
        named = profile.bases.get(term)
        terms = named.terms if named is not None else (term,)
        if named is not None and named.every_line_except is not None:
            every = frozenset(named.every_line_except)
        for item in terms:
            (values if item in VALUE_TERMS else lines).append(item)
    return ResolvedBase(tuple(values), tuple(lines), every)


# --- loading -----------------------------------------------------------------------------------


def _format_errors(exc: ValidationError, data: Any) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = _where(error["loc"], data)
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """``('lines', 3, 'rate')`` → ``lines[3] (PCS).rate`` (the line code taken from the file)."""
    text = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            code = item.get("code") if isinstance(item, dict) else None
            text += f"[{part}]" + (f" ({code})" if isinstance(code, str) else "")
            node = item
        else:
            text += ("." if text else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return text


def blocs_from_file(path: str | os.PathLike[str]) -> Blocs:
    """Read and validate a bloc membership file; raises ProfileError naming the file and field."""
    path = Path(path)
    data = read_yaml(path, error=ProfileError)
    try:
        return Blocs.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(str(path), _format_errors(exc, data)) from None


def profile_from_file(path: str | os.PathLike[str], blocs: Blocs | None = None) -> CountryProfile:
    """Read and validate a profile file (with ``blocs``, default the configured blocs.yaml)."""
    path = Path(path)
    data = read_yaml(path, error=ProfileError)
    if "blocs" in data:
        raise ProfileError(str(path), "blocs: bloc membership belongs in blocs.yaml, not in a profile")
    try:
        return CountryProfile.model_validate({**data, "blocs": blocs if blocs is not None else load_blocs()})
    except ValidationError as exc:
        raise ProfileError(str(path), _format_errors(exc, data)) from None


def _override() -> str | None:
    return os.environ.get(OVERRIDE_ENV) or None


def _find(relative: str, override: str | None) -> Path | None:
    if override:
        candidate = Path(override) / relative
        if candidate.is_file():
            return candidate
    shipped = PACKAGE_DIR / relative
    return shipped if shipped.is_file() else None


def load_blocs() -> Blocs:
    """The bloc membership in force: ``$AVANCE_TARIFF_DIR/blocs.yaml`` if present, else the shipped file."""
    return _load_blocs(_override())


@lru_cache(maxsize=None)
def _load_blocs(override: str | None) -> Blocs:
    path = _find("blocs.yaml", override)
    if path is None:  # pragma: no cover - the file ships with the package
        raise ProfileError("blocs.yaml", "the file is missing")
    return blocs_from_file(path)


def load_profile(country: str) -> CountryProfile:
    """The profile of ``country`` (cached); raises UnknownCountryProfile or ProfileError."""
    return _load_profile(country.strip().upper(), _override())


@lru_cache(maxsize=None)
def _load_profile(country: str, override: str | None) -> CountryProfile:
    path = _find(f"profiles/{country}.yaml", override) if _ALPHA2.fullmatch(country) else None
    if path is None:
        raise UnknownCountryProfile(country)
    profile = profile_from_file(path, _load_blocs(override))
    if profile.country != country:
        raise ProfileError(str(path), f"country: {profile.country} does not match the file name {path.name}")
    return profile


def available_profiles() -> list[str]:
    """Countries with a profile (shipped or in ``$AVANCE_TARIFF_DIR/profiles``), sorted."""
    found = {p.stem for p in (PACKAGE_DIR / "profiles").glob("*.yaml")}
    override = _override()
    if override:
        found |= {p.stem for p in (Path(override) / "profiles").glob("*.yaml")}
    return sorted(code for code in found if _ALPHA2.fullmatch(code))


def clear_caches() -> None:
    """Forget loaded profiles, blocs and default schedules (after files were edited)."""
    _load_profile.cache_clear()
    _load_blocs.cache_clear()
    _default.cache_clear()
