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


SPLIT_CONSIGNMENT = "split_consignment"
"""Signal: the declaration clears one part of its transport document (``split_consignment``)."""
CONSIGNEE_DIFFERS = "consignee_differs"
"""Signal: the cited bill is made out to order or to a bank, and the importer is not its named consignee."""
SIGNALS = (SPLIT_CONSIGNMENT, CONSIGNEE_DIFFERS)
"""Every signal lodging may give the assessor; each has its reason ``reason.signal.<signal>``."""


def signal_reasons(subject: "AssessmentInput") -> list[Reason]:
    """One plain-words reason per signal present, in a fixed order (both assessors add them)."""
    bill = subject.declaration.transport_document_reference or ""
    return [Reason(f"reason.signal.{signal}", {"bill": bill}) for signal in SIGNALS if signal in subject.signals]


@dataclass(frozen=True, slots=True)
class AssessmentInput:
    declaration: GoodsDeclaration
    country: str
    currency: str
    registration_date: date
    items: tuple[ItemFacts, ...]
    duty_total: Decimal
    customs_value: Decimal
    signals: frozenset[str] = frozenset()  # among SIGNALS: what lodging found beyond the figures


@dataclass(frozen=True, slots=True)
class DrawRecord:
    """The random draw behind a lane, as the lane event records it (the node's secret never).

    ``value`` is the number in [0, 1) (every digit: ``repr`` of the float), ``secret`` the id of
    the node secret it was drawn with. ``red_below`` and ``yellow_below``, when given, are the
    random bands the draw alone decided with: below ``red_below`` the lane is red, below
    ``yellow_below`` at least yellow (``avance selection check-draws`` checks both)."""

    value: str
    secret: str
    red_below: str | None = None
    yellow_below: str | None = None

    def to_record(self) -> dict[str, str]:
        fields = {"value": self.value, "secret": self.secret, "red_below": self.red_below, "yellow_below": self.yellow_below}
        return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Assessment:
    lane: Lane
    score: Decimal  # 0 to 1: higher means riskier
    reasons: tuple[Reason, ...]
    assessor: str
    draw: DrawRecord | None = None  # the random draw behind the lane, when the assessor drew one


class Assessor(Protocol):
    """Assigns a lane to a declaration, with a score and the reasons."""

    name: str

    def assess(self, subject: AssessmentInput) -> Assessment: ...
