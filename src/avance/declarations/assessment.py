"""The assessment seam: whatever assigns the control lane implements ``Assessor``.

The rule-based assessor (``rules.py``) ships first; the learned risk engine plugs in here later.
Assessors are pure: they get the declaration with its computed values and return a lane, a score
and the reasons, with no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any, Protocol

from avance.declarations.model import GoodsDeclaration
from avance.kit.i18n import LANGUAGES, t


class Lane(str, Enum):
    """Control lanes (circuits), by increasing severity of control."""

    GREEN = "green"  # release without control
    BLUE = "blue"  # release now, post-clearance audit
    YELLOW = "yellow"  # documentary check
    RED = "red"  # physical examination

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @staticmethod
    def strictest(lanes: "list[Lane]") -> "Lane":
        return max(lanes, key=lambda lane: lane.severity)


_SEVERITY = {Lane.GREEN: 0, Lane.BLUE: 1, Lane.YELLOW: 2, Lane.RED: 3}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a lane was chosen: a catalog key with parameters, or a text given in both languages."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    text: dict[str, str] | None = None

    def message(self, lang: str) -> str:
        if self.text:
            return self.text.get(lang) or next(iter(self.text.values()))
        return t(self.code, lang, **self.params)

    def to_record(self) -> dict[str, Any]:
        """Stored form: every language rendered, so the stored decision reads the same later."""
        params = tuple((k, str(v)) for k, v in self.params.items())
        text = tuple(sorted(self.text.items())) if self.text else None
        return _record(self.code, params, text)


@lru_cache(maxsize=4096)
def _record(code: str, params: tuple[tuple[str, str], ...], text: tuple[tuple[str, str], ...] | None) -> dict[str, Any]:
    reason = Reason(code, dict(params), dict(text) if text else None)
    return {
        "code": code,
        "params": dict(params),
        "text": {lang: reason.message(lang) for lang in LANGUAGES},
    }


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What an assessor knows of one goods item beyond what was declared."""

    customs_value: Decimal  # national currency
    duty_total: Decimal


@dataclass(frozen=True, slots=True)
class AssessmentInput:
    declaration: GoodsDeclaration
    country: str
    currency: str
    registration_date: date
    items: tuple[ItemFacts, ...]
    duty_total: Decimal
    customs_value: Decimal


@dataclass(frozen=True, slots=True)
class Assessment:
    lane: Lane
    score: Decimal  # 0 to 1: higher means riskier
    reasons: tuple[Reason, ...]
    assessor: str


class Assessor(Protocol):
    """Assigns a lane to a declaration, with a score and the reasons."""

    name: str

    def assess(self, subject: AssessmentInput) -> Assessment: ...
