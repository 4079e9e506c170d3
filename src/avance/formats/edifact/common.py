"""What the CUSDEC, CUSCAR and CUSRES mappings share: reading values out of segments with every
problem collected, cutting long texts into components and joining them back, parties (NAD),
dates (DTM), amounts and measures."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from avance.formats.edifact.structure import Group
from avance.formats.edifact.syntax import Message, Seg
from avance.kit.errors import Issue

_NUMBER = re.compile(r"^-?([0-9]+([.,][0-9]*)?|[.,][0-9]+)$")
_MASS_UNITS = {"KGM": Decimal(1), "KG": Decimal(1), "TNE": Decimal(1000), "GRM": Decimal("0.001")}
NAME_WIDTH = 35
TEXT_WIDTH = 70


class Reading:
    """The message being read and the problems found in its content."""

    def __init__(self, message: Message) -> None:
        self.message = message
        self.issues: list[Issue] = []

    def bad(self, seg: Seg, element: str, key: str, value: str) -> None:
        self.issues.append(Issue(f"{self.message.at(seg)}/{element}", key, {"element": element, "value": value[:40], "tag": seg.tag, "position": seg.position}))

    def number(self, seg: Seg, element: int, component: int, name: str) -> str | None:
        """A decimal number as the text the API takes ('1250.5'), either decimal mark read."""
        value = seg.get(element, component).strip()
        if not value:
            return None
        if not _NUMBER.match(value):
            self.bad(seg, name, "format.edifact.bad_number", value)
            return None
        try:
            return format(Decimal(value.replace(",", ".")), "f")
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            self.bad(seg, name, "format.edifact.bad_number", value)
            return None

    def integer(self, seg: Seg, element: int, component: int, name: str) -> int | None:
        value = seg.get(element, component).strip()
        if not value:
            return None
        if not value.isdigit() or len(value) > 9:
            self.bad(seg, name, "format.edifact.bad_integer", value)
            return None
        return int(value)

    def moment(self, seg: Seg, name: str = "C507") -> str | None:
        """DTM C507 as an ISO 8601 UTC timestamp (formats 101, 102, 201, 203, 204, 303, 304; a date
        alone is midnight UTC; a time without zone is read as UTC; a two-digit year is 20yy)."""
        value, fmt = seg.get(0, 1).strip(), seg.get(0, 2).strip() or "102"
        given = f"{value}:{fmt}"
        short = {"101": (r"\d{6}", "102"), "201": (r"\d{10}", "203")}.get(fmt)
        if short and re.fullmatch(short[0], value):
            # YYMMDD and YYMMDDHHMM: the century of the customs messages Avance receives.
            value, fmt = f"20{value}", short[1]
        patterns = {
            "102": r"(\d{4})(\d{2})(\d{2})()()()()",
            "203": r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})()()",
            "204": r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})()",
            "303": r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})()(Z|UTC|GMT|[+-]\d{2}(?:\d{2})?)",
            "304": r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(Z|UTC|GMT|[+-]\d{2}(?:\d{2})?)",
        }
        pattern = patterns.get(fmt)
        found = re.fullmatch(pattern, value) if pattern else None
        if found is None:
            self.bad(seg, name, "format.edifact.bad_date", given)
            return None
        year, month, day, hour, minute, second, zone = found.groups()
        try:
            moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=timezone.utc)
        except ValueError:
            self.bad(seg, name, "format.edifact.bad_date", given)
            return None
        if zone and zone[0] in "+-":
            offset = int(zone[1:3]) * 60 + int(zone[3:5] or 0)
            moment -= (1 if zone[0] == "+" else -1) * timedelta(minutes=offset)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def day(self, seg: Seg, name: str = "C507") -> str | None:
        """DTM C507 as an ISO 8601 calendar date."""
        moment = self.moment(seg, name)
        return moment[:10] if moment else None

    def mass(self, seg: Seg, name: str = "C174") -> str | None:
        """MEA C174 (unit, value) in kilograms."""
        unit = seg.get(2, 0).strip().upper()
        value = self.number(seg, 2, 1, f"{name}/6314")
        if value is None:
            return None
        factor = _MASS_UNITS.get(unit or "KGM")
        if factor is None:
            self.bad(seg, f"{name}/6411", "format.edifact.bad_unit", unit)
            return None
        return format(Decimal(value) * factor, "f") if factor != 1 else value


def chunks(text: str, width: int) -> list[str]:
    """``text`` cut into components of at most ``width`` characters."""
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def joined(parts: Iterable[str], width: int) -> str:
    """Components joined back: a full-width component continues into the next (it was cut),
    a shorter one was a line of its own (a space between)."""
    out = ""
    previous_full = True
    for part in parts:
        if not part:
            continue
        if out and not previous_full:
            out += " "
        out += part
        previous_full = len(part) == width
    return out.strip()


DESCRIPTION = "AAA"
"""FTX text subject (4451) of a goods description."""


def description(segments: Iterable[Seg]) -> str | None:
    """The goods description among FTX segments: those with subject AAA when there is one (the
    other subjects, such as AAI general information or HAN handling instructions, are remarks and
    are left out), else every FTX's text."""
    found = list(segments)
    if any(seg.get(0) == DESCRIPTION for seg in found):
        return texts(found, DESCRIPTION)
    return texts(found)


def texts(segments: Iterable[Seg], subject: str | None = None) -> str | None:
    """The text of FTX segments (C108, components of 70), those of ``subject`` when given."""
    parts: list[str] = []
    for seg in segments:
        if subject is None or seg.get(0) == subject:
            parts.extend(seg.composite(3))
    text = joined(parts, TEXT_WIDTH)
    return text or None


def ftx(subject: str, text: str) -> list[list[Any]]:
    """FTX segments for ``text``: five components of 70 each."""
    parts = chunks(text, TEXT_WIDTH)
    return [["FTX", subject, "", "", parts[i : i + 5]] for i in range(0, len(parts), 5)]


# --- parties --------------------------------------------------------------------------------


def nad(role: str, party: dict[str, Any]) -> list[Any]:
    """NAD: 3035 role, C082 id, C058 the address beyond four lines, C080 name, C059 address,
    3207 country."""
    address = chunks(str(party.get("address") or ""), NAME_WIDTH) if party.get("address") else []
    return [
        "NAD",
        role,
        [str(party.get("id") or "")],
        address[4:9],
        chunks(str(party.get("name") or ""), NAME_WIDTH)[:5],
        address[:4],
        "",
        "",
        "",
        str(party.get("country") or ""),
    ]


def party(seg: Seg) -> dict[str, Any]:
    """A party from NAD; a name given only as unstructured lines (C058) is its first line."""
    body: dict[str, Any] = {}
    if seg.get(1):
        body["id"] = seg.get(1)
    unstructured = [p for p in seg.composite(2)]
    name = joined(seg.composite(3), NAME_WIDTH)
    if not name and unstructured:
        name, unstructured = unstructured[0].strip(), unstructured[1:]
    if name:
        body["name"] = name
    address = joined([*seg.composite(4), *unstructured], NAME_WIDTH)
    city = " ".join(p for p in (seg.get(7), seg.get(5)) if p.strip())
    if city:
        address = f"{address}, {city}" if address else city
    if address:
        body["address"] = address
    if seg.get(8):
        body["country"] = seg.get(8)
    return body


def parties(segments: Iterable[Seg | Group]) -> dict[str, dict[str, Any]]:
    """The first party of each role among NAD segments or groups triggered by NAD."""
    found: dict[str, dict[str, Any]] = {}
    for item in segments:
        seg = item.trigger if isinstance(item, Group) else item
        if seg.tag == "NAD" and seg.get(0) not in found:
            found[seg.get(0)] = party(seg)
    return found


# --- values written ---------------------------------------------------------------------------


def stamp(value: Any) -> str:
    """An ISO 8601 timestamp as DTM format 204 (CCYYMMDDHHMMSS, UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")


def calendar(value: Any) -> str:
    """An ISO 8601 date as DTM format 102 (CCYYMMDD)."""
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return day.strftime("%Y%m%d")


def amount(value: Any) -> str:
    """A decimal as EDIFACT writes it: plain notation, '.' as decimal mark (declared in UNA)."""
    return format(Decimal(str(value)), "f")
