"""CSV cells a spreadsheet cannot take for formulas ("CSV injection").

A spreadsheet opening a CSV file reads a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a
tab or carriage return before one) as a formula: a declarant's name or a note typed as
``=HYPERLINK(...)`` or ``=cmd|...`` would run on an analyst's machine. Every CSV the node writes
for people goes through ``writer`` or ``DictWriter``: such a text cell gets a leading ``'``, which
spreadsheets show as text and do not evaluate. A number stays a number (``-12.5`` is written as
it is), so that figures keep adding up. A reader of a file the node wrote (the value-control
file read back) takes the ``'`` away again with ``restore``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from typing import Any

TRIGGERS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
"""First characters that make a spreadsheet read a cell as a formula (with their full-width forms,
which some spreadsheets read as the ASCII ones)."""

_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")


def cell(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet evaluates: a text starting like a formula, and not a
    plain number, gets a leading ``'``; anything else is returned as it is."""
    if not isinstance(value, str) or not value or value[0] not in TRIGGERS or _NUMBER.fullmatch(value):
        return value
    return "'" + value


def row(values: Iterable[Any]) -> list[Any]:
    return [cell(v) for v in values]


def restore(value: str) -> str:
    """A cell as it was before ``cell`` (for reading back a file the node wrote)."""
    if len(value) > 1 and value[0] == "'" and value[1] in TRIGGERS and not _NUMBER.fullmatch(value[1:]):
        return value[1:]
    return value


def _carriage_return(values: list[Any]) -> bool:
    return any(isinstance(v, str) and "\r" in v for v in values)


class _Writer:
    """``csv.writer`` whose cells go through ``cell``. A row holding a carriage return is written
    with every cell quoted: the ``csv`` module does not quote one when the line terminator is
    ``\n``, and a spreadsheet would break the line there."""

    def __init__(self, handle: Any, *args: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(handle, *args, **kwargs)
        self._quoted = csv.writer(handle, *args, **{**kwargs, "quoting": csv.QUOTE_ALL})

    @property
    def dialect(self) -> Any:
        return self._writer.dialect

    def writerow(self, values: Iterable[Any]) -> Any:
        safe = row(values)
        return (self._quoted if _carriage_return(safe) else self._writer).writerow(safe)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for values in rows:
            self.writerow(values)


def writer(handle: Any, *args: Any, **kwargs: Any) -> _Writer:
    """``csv.writer(handle, ...)``, with every cell made safe."""
    return _Writer(handle, *args, **kwargs)


class DictWriter(csv.DictWriter):  # type: ignore[type-arg]
    """``csv.DictWriter``, with every cell made safe (the header is the node's own)."""

    def __init__(self, f: Any, fieldnames: Any, restval: Any = "", extrasaction: Any = "raise", dialect: Any = "excel", *args: Any, **kwds: Any) -> None:
        super().__init__(f, fieldnames, restval, extrasaction, dialect, *args, **kwds)
        self.writer = _Writer(f, dialect, *args, **kwds)  # type: ignore[assignment]

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({k: cell(v) for k, v in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for rowdict in rowdicts:
            self.writerow(rowdict)
