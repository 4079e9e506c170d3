"""What every reader gives and every writer takes: Avance JSON documents, tagged with their kind;
and what Avance answers (``Answer``), which the response writers (WCO DM RES, UN/EDIFACT CUSRES)
turn into a message."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

Kind = Literal["declaration", "cargo_report", "export_notice"]
"""The documents Avance takes: a goods declaration (``POST /declarations``), a cargo report
(``POST /manifests``), an export notice for mirror control (``POST /matching/export-notices``)."""


@dataclass(frozen=True)
class Document:
    """One document read from a message, as the JSON body the API takes for its kind."""

    kind: Kind
    body: dict[str, Any]


@dataclass(frozen=True)
class AnswerError:
    """One error of a rejection: where (a JSON pointer into the Avance document, or the message's
    own position such as ``UNH[1]/BGM``), the catalog key, and the message already in the
    reader's language."""

    pointer: str
    code: str
    message: str


@dataclass(frozen=True)
class DutyLine:
    """One duty or tax of a tax calculation: its type code (as in the country profile, e.g. DD,
    RS, TVA), the goods item it belongs to (None for the declaration as a whole), base and amount."""

    type_code: str
    amount: Decimal
    currency: str
    item: int | None = None
    base: Decimal | None = None
    rate: Decimal | None = None


AnswerKind = Literal["accepted", "rejected", "tax_calculation", "control_required", "released"]


@dataclass(frozen=True)
class Answer:
    """What Avance decided about a document, for a response message.

    ``reference`` is the sender's own reference (LRN of a declaration, reference of a cargo
    report); ``identifier`` is what Avance gave it (the declaration's id), when it has one.
    """

    kind: AnswerKind
    reference: str
    issued_at: datetime
    identifier: str | None = None
    office_code: str | None = None
    errors: tuple[AnswerError, ...] = ()
    duties: tuple[DutyLine, ...] = ()
    total: Decimal | None = None
    currency: str | None = None
    lane: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
