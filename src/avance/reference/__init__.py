"""Reference data shipped with Avance: HS 2022, countries, currencies, UN/LOCODE, offices,
procedures. Attribution of each data set is in ``data/*/SOURCE.md``.

Everything is loaded once per process and then looked up in memory.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pycountry
import yaml

from avance.kit.money import is_currency

_DATA = resources.files(__package__).joinpath("data")

# UN Comtrade's "not specified" rows and the root, which are not HS codes.
_NOT_HS = {"99", "9999", "999999", "TOTAL"}


def _read_text(*parts: str) -> str:
    node = _DATA
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8-sig")


@dataclass(frozen=True, slots=True)
class HsEntry:
    code: str
    description: str
    level: int
    section: str


@lru_cache(maxsize=1)
def hs_nomenclature() -> dict[str, HsEntry]:
    """HS 2022 chapters, headings and subheadings by code."""
    entries: dict[str, HsEntry] = {}
    reader = csv.DictReader(io.StringIO(_read_text("hs", "harmonized-system.csv")))
    for row in reader:
        code = row["hscode"]
        if code in _NOT_HS:
            continue
        entries[code] = HsEntry(code, row["description"], int(row["level"]), row["section"])
    return entries


@lru_cache(maxsize=1)
def hs_subheadings() -> frozenset[str]:
    """The six-digit HS 2022 subheadings."""
    return frozenset(code for code, e in hs_nomenclature().items() if e.level == 6)


def is_hs_code(code: str) -> bool:
    """A national line (6 to 10 digits) is known when its first six digits are an HS 2022 subheading."""
    return len(code) >= 6 and code[:6] in hs_subheadings()


@lru_cache(maxsize=1)
def countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 codes with their English names."""
    return {c.alpha_2: c.name for c in pycountry.countries}


def is_country(code: str) -> bool:
    return code in countries()


def country_name(code: str) -> str:
    return countries().get(code, code)


def is_currency_code(code: str) -> bool:
    return is_currency(code)


@dataclass(frozen=True, slots=True)
class Place:
    locode: str
    name: str
    function: str

    @property
    def is_port(self) -> bool:
        return self.function[:1] == "1"


@lru_cache(maxsize=1)
def locodes() -> dict[str, Place]:
    """The UN/LOCODE subset shipped (ECOWAS and CEMAC states)."""
    places: dict[str, Place] = {}
    folder = _DATA.joinpath("unlocode")
    for entry in folder.iterdir():
        if not entry.name.endswith(".csv"):
            continue
        for row in csv.DictReader(io.StringIO(entry.read_text(encoding="utf-8-sig"))):
            code = row["country"] + row["location"]
            places[code] = Place(code, row["nameWoDiacritics"] or row["name"], row["function"])
    return places


@lru_cache(maxsize=1)
def locode_countries() -> frozenset[str]:
    """Countries whose UN/LOCODE list is shipped, so that their places can be checked."""
    return frozenset(code[:2] for code in locodes())


def check_locode(code: str) -> bool | None:
    """True/False when the country's list is shipped, None when it cannot be checked here."""
    if not is_country(code[:2]):
        return False
    if code[:2] not in locode_countries():
        return None
    return code in locodes()


@dataclass(frozen=True, slots=True)
class Office:
    code: str
    name: str
    country: str
    locode: str | None
    kind: str
    modes: tuple[int, ...]


def load_offices(path: Path | None = None) -> dict[str, Office]:
    """Customs offices by code, from ``path`` or the shipped ``data/offices.yaml``."""
    text = path.read_text(encoding="utf-8") if path else _read_text("offices.yaml")
    data = yaml.safe_load(text) or {}
    offices: dict[str, Office] = {}
    for country, rows in data.items():
        for row in rows or []:
            office = Office(
                code=str(row["code"]),
                name=str(row["name"]),
                country=str(country),
                locode=row.get("locode"),
                kind=str(row.get("kind", "")),
                modes=tuple(int(m) for m in row.get("modes") or ()),
            )
            offices[office.code] = office
    return offices


@lru_cache(maxsize=1)
def shipped_offices() -> dict[str, Office]:
    return load_offices()


@dataclass(frozen=True, slots=True)
class Procedure:
    code: str
    duties_due: bool
    fr: str
    en: str


@lru_cache(maxsize=1)
def procedures() -> dict[str, Procedure]:
    data = yaml.safe_load(_read_text("procedures.yaml")) or {}
    return {
        str(code): Procedure(str(code), bool(v["duties_due"]), v["fr"], v["en"]) for code, v in data.items()
    }
