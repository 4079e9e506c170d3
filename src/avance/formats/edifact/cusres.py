"""CUSRES (customs response): what Avance decided about a document, as a message.

BGM names the answer (``ACCEPTED``, ``REJECTED``, ``TAX_CALCULATION``, ``CONTROL_REQUIRED``,
``RELEASED`` in C002/1000) with its response type (4343: AP accepted, RE rejected, CA
conditionally accepted: a control is required); the sender's reference and Avance's identifier in
segment group 3; every error of a rejection in segment group 4 (ERP, ERC with the catalog key, FTX
with the message and the pointer); duties and taxes in segment groups 5 (the document as a whole)
and 6/11/12 (per goods item).
"""

from __future__ import annotations

from typing import Any

from avance.formats.documents import Answer, DutyLine
from avance.formats.edifact.common import amount, ftx, stamp

RESPONSE_TYPE = {"accepted": "AP", "rejected": "RE", "tax_calculation": "AP", "control_required": "CA", "released": "AP"}


def _tax(line: DutyLine) -> list[list[Any]]:
    rate = ["", "", "", amount(line.rate)] if line.rate is not None else ""
    segments: list[list[Any]] = [["TAX", "7", [line.type_code], "", "", rate], ["MOA", ["124", amount(line.amount), line.currency]]]
    if line.base is not None:
        segments.append(["MOA", ["125", amount(line.base), line.currency]])
    return segments


def _section(pointer: str) -> str:
    """ERP 1049: 2 (detail) for a pointer into goods items, 1 (heading) otherwise."""
    lowered = pointer.lower()
    return "2" if ("goods_items" in lowered or "goodsitem" in lowered or "/items" in lowered or "CST" in pointer) else "1"


def write(answer: Answer) -> list[list[Any]]:
    """The segments between UNH and UNT of the CUSRES for ``answer``."""
    segments: list[list[Any]] = [
        ["BGM", ["", "", "", answer.kind.upper()], [answer.identifier or answer.reference], "9", RESPONSE_TYPE[answer.kind]],
        ["DTM", ["137", stamp(answer.issued_at), "204"]],
    ]
    if answer.lane:
        segments.append(["FTX", "CUS", "", [answer.lane]])
    if answer.office_code:
        segments.append(["LOC", "22", [answer.office_code]])
    segments.append(["RFF", ["ACW", answer.reference]])
    if answer.identifier:
        segments.append(["RFF", ["ABT", answer.identifier]])
    for error in answer.errors:
        segments.append(["ERP", [_section(error.pointer)]])
        segments.append(["ERC", [error.code]])
        segments.extend(ftx("AAO", error.message))
        if error.pointer:
            segments.extend(ftx("ZZZ", error.pointer))
    for line in (d for d in answer.duties if d.item is None):
        segments.extend(_tax(line))
    if answer.total is not None:
        segments.append(["TAX", "2"])
        segments.append(["MOA", ["124", amount(answer.total), answer.currency or ""]])
    by_item: dict[int, list[DutyLine]] = {}
    for line in answer.duties:
        if line.item is not None:
            by_item.setdefault(line.item, []).append(line)
    if by_item:
        segments.append(["DOC", ["929"], [answer.reference]])
        for item, lines in sorted(by_item.items()):
            segments.append(["CST", str(item)])
            for line in lines:
                segments.extend(_tax(line))
    return segments
