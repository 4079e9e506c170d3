"""Worked cases, as data next to the profiles: what each country's officers must be told.

Each ``profiles/cases/<CC>.yaml`` holds items declared on a date (HS code, origin, customs value,
FOB value, preference claimed) with every line the calculator must give for them and the total,
computed by hand with a note of where each figure comes from (docs/tariffs.md, "Worked cases").
This one test finds every case file, so an administration that changes a rate adds its case to
the data, not to Python. The case files are read strictly: a misspelt key fails here rather than
being ignored.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, ValidationError

from avance.kit.datafiles import read_yaml
from avance.revenue import DutyItemInput, Schedule, available_profiles, compute_duties, load_profile
from avance.revenue.calculator import decimal_text, rate_text
from avance.revenue.profiles import OVERRIDE_ENV, PACKAGE_DIR

CASES_DIR = PACKAGE_DIR / "profiles" / "cases"


def _number(value: Any) -> Decimal:
    """YAML numbers as written: integers, or decimals (read as ``Decimal``, never ``float``)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError(f"{value!r} is not a number")
    return Decimal(value)


Number = Annotated[Decimal, PlainValidator(_number)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ExpectedLine(_Strict):
    code: Text
    base: Number
    rate: Number
    amount: Number
    note: Text


class ExpectedTotal(_Strict):
    amount: Number
    note: Text


class WorkedCase(_Strict):
    name: Text
    note: str | None = None
    on: date = Field(alias="date")
    hs_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6,10}$")]
    origin: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    customs_value: Number
    fob_value: Number
    preference: bool = False
    lines: tuple[ExpectedLine, ...] = Field(min_length=1)
    total: ExpectedTotal


class CaseFile(_Strict):
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    cases: tuple[WorkedCase, ...] = Field(min_length=1)


def _read(path: Path) -> CaseFile:
    data = read_yaml(path)
    try:
        return CaseFile.model_validate(data)
    except ValidationError as exc:
        pytest.fail(f"{path}: {exc}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _all_cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        try:
            cases = CaseFile.model_validate(read_yaml(path)).cases
        except (ValidationError, ValueError):
            continue  # reported by test_every_case_file_is_well_formed
        params.extend(pytest.param(path.stem, case, id=f"{path.stem}-{_slug(case.name)}") for case in cases)
    return params


CASE_FILES = sorted(CASES_DIR.glob("*.yaml"))


@pytest.fixture(autouse=True)
def _shipped_files(monkeypatch):
    """The cases describe the shipped profiles and schedules, whatever the environment points at."""
    monkeypatch.delenv(OVERRIDE_ENV, raising=False)


def test_every_shipped_profile_has_worked_cases():
    assert [path.stem for path in CASE_FILES] == available_profiles()


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda path: path.stem)
def test_every_case_file_is_well_formed(path: Path):
    cases = _read(path)
    assert cases.country == path.stem, f"{path}: country {cases.country} does not match the file name"
    names = [case.name for case in cases.cases]
    assert len(set(names)) == len(names), f"{path}: two cases share a name"
    for case in cases.cases:
        added = sum((line.amount for line in case.lines), Decimal(0))
        assert added == case.total.amount, f"{path}: {case.name!r}: the lines add up to {added}, not {case.total.amount}"


@pytest.mark.parametrize(("country", "case"), _all_cases())
def test_worked_case(country: str, case: WorkedCase):
    item = DutyItemInput(case.hs_code, case.origin, case.customs_value, case.fob_value, case.preference)
    breakdown = compute_duties(load_profile(country), Schedule.default(country), item, case.on).to_dict("en")
    computed = [(line["code"], line["base"], line["rate"], line["amount"]) for line in breakdown["lines"]]
    expected = [(line.code, decimal_text(line.base), rate_text(line.rate), decimal_text(line.amount)) for line in case.lines]
    assert computed == expected, case.name
    assert breakdown["total"] == decimal_text(case.total.amount), case.name
