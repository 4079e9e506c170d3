"""The interchange: bytes to segments and back, with the checks pydifact does not make.

pydifact tokenises (separators, release character) and escapes on output. Around it this module
checks what a receiving EDI desk checks before reading a message: the service string advice (UNA),
the syntax identifier of UNB and the bytes against the character set it declares, that every
message is closed (UNH...UNT, segment count and reference), that the interchange is closed (UNZ
message count and control reference) and not truncated, and the message type and directory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pydifact.control import Characters
from pydifact.parser import Parser, TokenIterator
from pydifact.segments import Segment
from pydifact.serializer import Serializer
from pydifact.tokenizer import Tokenizer

from avance.kit.errors import Issue, ValidationFailed

MAX_EDIFACT_BYTES = 32 * 1024 * 1024
"""The largest interchange read (10,000 bills of lading on one CUSCAR fit well below)."""

CHARSETS: dict[str, str] = {
    "UNOA": "ascii",
    "UNOB": "ascii",
    "UNOC": "latin-1",
    "UNOW": "utf-8",
    "UNOY": "utf-8",
}
"""The syntax identifiers read, with the codec of each: UNOA and UNOB are subsets of ASCII (level A
and B), UNOC is ISO 8859-1, UNOW and UNOY are read as UTF-8 (ISO 10646-1)."""

CHARSET_NAMES = {"UNOA": "ASCII (level A)", "UNOB": "ASCII (level B)", "UNOC": "ISO 8859-1", "UNOW": "UTF-8", "UNOY": "UTF-8"}

TAKEN = ("CUSDEC", "CUSCAR")
"""The message types Avance reads."""

DIRECTORY = ("D", "99B", "UN")

_TAG = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_BETWEEN_SEGMENTS = "\r\n"
_ALLOWED_CONTROLS = {"\r", "\n", "\t"}
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Control characters: no character set read here has them as data (line breaks between segments
and tabs are tolerated)."""
DEFAULT_CHARACTERS = ":+.? '"


@dataclass(frozen=True, slots=True)
class Seg:
    """One segment: its tag, its data elements (each a tuple of components) and its position
    (counted from UNH = 1 inside a message, from UNB = 1 in the interchange)."""

    tag: str
    elements: tuple[tuple[str, ...], ...]
    position: int

    def get(self, element: int, component: int = 0) -> str:
        """Component ``component`` of data element ``element`` (both counted from 0 after the
        tag), or '' when absent."""
        if element >= len(self.elements):
            return ""
        parts = self.elements[element]
        return parts[component] if component < len(parts) else ""

    def composite(self, element: int) -> tuple[str, ...]:
        return self.elements[element] if element < len(self.elements) else ()


@dataclass(slots=True)
class Message:
    """One message of an interchange: its ordinal, its reference (UNH 0062), its type and its
    segments from UNH to UNT inclusive, numbered from 1."""

    ordinal: int
    reference: str
    type: str
    version: tuple[str, str, str]
    segments: list[Seg] = field(default_factory=list)

    @property
    def where(self) -> str:
        """How an error names the message: ``UNH[2] 'M0002'``."""
        return f"UNH[{self.ordinal}] '{self.reference}'"

    def at(self, seg: Seg) -> str:
        """How an error names a segment of this message: ``UNH[2] 'M0002'/LOC (segment 5)``."""
        return f"{self.where}/{seg.tag} (segment {seg.position})"


@dataclass(slots=True)
class Interchange:
    syntax: str
    control_reference: str
    messages: list[Message]


def _fail(pointer: str, key: str, **params: object) -> ValidationFailed:
    return ValidationFailed([Issue(pointer, key, dict(params))])


# --- reading ----------------------------------------------------------------------------------


def _service_advice(text: str) -> tuple[Characters, str, int]:
    """The separators (from UNA, or the defaults), the release character ('' when none) and where
    UNB starts."""
    if not text.startswith("UNA"):
        return Characters.from_str(DEFAULT_CHARACTERS), "?", 0
    advice = text[3:9]
    if len(advice) < 6:
        raise _fail("UNA", "format.edifact.una_length", advice=advice)
    component, data, decimal, release, repetition, terminator = advice
    separators = [component, data, terminator] + ([release] if release != " " else [])
    bad = [c for c in separators + [repetition] if c.isalnum() or (c in _ALLOWED_CONTROLS)]
    if bad or len(set(separators)) != len(separators) or repetition in separators:
        raise _fail("UNA", "format.edifact.una_separators", advice=advice)
    if decimal not in ".,":
        raise _fail("UNA", "format.edifact.una_decimal", advice=advice, decimal=decimal)
    # A space as release character means none; pydifact always wants one, so give it a character
    # that cannot occur (control characters are refused before tokenising).
    characters = Characters.from_str(f"{component}{data}{decimal}{release if release != ' ' else chr(0)}{repetition}{terminator}")
    return characters, (release if release != " " else ""), 9


def _syntax_identifier(text: str, characters: Characters, start: int) -> str:
    """The syntax identifier of UNB (S001/0001), read before decoding (UNA and UNB are ASCII)."""
    head = text[start:].lstrip(_BETWEEN_SEGMENTS + " ")
    if not head.startswith("UNB"):
        found = head[:3] if head[:3].strip() else ""
        raise _fail("UNB", "format.edifact.no_unb", found=found)
    if head[3:4] != characters.data_separator:
        raise _fail("UNB (segment 1)", "format.edifact.unb_syntax", value=head[3:12])
    end = len(head)
    for stop in (characters.component_separator, characters.data_separator, characters.segment_terminator):
        found_at = head.find(stop, 4)
        if found_at != -1:
            end = min(end, found_at)
    return head[4:end]


def _decode(data: bytes, syntax: str) -> str:
    codec = CHARSETS[syntax]
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise _fail(
            "UNB/S001", "format.edifact.charset_bytes", syntax=syntax, charset=CHARSET_NAMES[syntax], byte=f"{data[exc.start]:02X}", offset=exc.start
        ) from None
    control = _CONTROL.search(text)
    if control is not None:
        where = len(text[: control.start()].encode(codec))
        raise _fail("UNB/S001", "format.edifact.charset_bytes", syntax=syntax, charset=CHARSET_NAMES[syntax], byte=f"{ord(control.group()):02X}", offset=where)
    return text


def _tokenise(text: str, characters: Characters) -> list[tuple[str, tuple[tuple[str, ...], ...]]]:
    """The raw segments of ``text`` (UNA removed), through pydifact's tokenizer."""
    tokens = TokenIterator(Tokenizer().get_tokens(text, characters))
    segments = []
    try:
        for raw in Parser(characters=characters).convert_tokens_to_raw_segments(tokens):
            tag, *elements = raw
            segments.append((tag, tuple((e,) if isinstance(e, str) else tuple(e) for e in elements)))
    except Exception as exc:  # noqa: BLE001 - pydifact raises EDISyntaxError, ValueError or IndexError on broken input
        raise _fail(f"segment {len(segments) + 1}", "format.edifact.syntax", reason=str(exc)) from None
    return segments


def _ends_terminated(text: str, characters: Characters, release: str) -> bool:
    body = text.rstrip(_BETWEEN_SEGMENTS + " ")
    if not body.endswith(characters.segment_terminator):
        return False
    if not release:
        return True
    releases = len(body[:-1]) - len(body[:-1].rstrip(release))
    return releases % 2 == 0


def parse(data: bytes, *, taken: Sequence[str] | None = TAKEN) -> Interchange:
    """The messages of an interchange, its envelope checked. ``taken``: the message types
    accepted (others are refused by name); None takes any (to check what Avance writes)."""
    if len(data) > MAX_EDIFACT_BYTES:
        raise _fail("", "format.edifact.too_large", limit=MAX_EDIFACT_BYTES)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    stripped = data.lstrip(b" \r\n\t")
    if not stripped:
        raise _fail("", "format.edifact.empty")
    # UNA and UNB are in ASCII whatever the character set: read them from a lossless decoding.
    head = stripped[:512].decode("latin-1")
    characters, release, start = _service_advice(head)
    syntax = _syntax_identifier(head, characters, start)
    if syntax not in CHARSETS:
        raise _fail("UNB (segment 1)/S001", "format.edifact.charset_unknown", syntax=syntax, known=", ".join(CHARSETS))
    text = _decode(stripped, syntax)[start:].lstrip(_BETWEEN_SEGMENTS + " ")
    if not _ends_terminated(text, characters, release):
        raise _fail("", "format.edifact.truncated_segment", terminator=characters.segment_terminator)
    raw = _tokenise(text, characters)
    segments = []
    for position, (tag, elements) in enumerate(raw, start=1):
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise _fail(f"segment {position}", "format.edifact.bad_tag", tag=str(tag)[:20], position=position)
        segments.append(Seg(tag, elements, position))
    return _envelope(segments, syntax, taken)


def _check_unb(unb: Seg, syntax: str) -> list[Issue]:
    issues = []
    where = "UNB (segment 1)"
    if unb.get(0, 1) not in {"1", "2", "3", "4"}:
        issues.append(Issue(f"{where}/S001", "format.edifact.unb_element", {"element": "S001/0002", "value": unb.get(0, 1)}))
    if not unb.get(1):
        issues.append(Issue(f"{where}/S002", "format.edifact.unb_element", {"element": "S002/0004", "value": ""}))
    if not unb.get(2):
        issues.append(Issue(f"{where}/S003", "format.edifact.unb_element", {"element": "S003/0010", "value": ""}))
    date, time = unb.get(3, 0), unb.get(3, 1)
    if not (re.fullmatch(r"[0-9]{6}|[0-9]{8}", date) and re.fullmatch(r"[0-9]{4}", time)):
        issues.append(Issue(f"{where}/S004", "format.edifact.unb_element", {"element": "S004", "value": f"{date}:{time}"}))
    if not unb.get(4):
        issues.append(Issue(f"{where}/0020", "format.edifact.unb_element", {"element": "0020", "value": ""}))
    return issues


def _envelope(segments: list[Seg], syntax: str, taken: Sequence[str] | None) -> Interchange:
    unb = segments[0]
    if unb.tag != "UNB":
        raise _fail("UNB", "format.edifact.no_unb", found=unb.tag)
    issues = _check_unb(unb, syntax)
    control = unb.get(4)
    where = f"UNB '{control}'"
    messages: list[Message] = []
    groups = 0
    current: Message | None = None
    unz: Seg | None = None
    for seg in segments[1:]:
        if unz is not None:
            issues.append(Issue(f"{where}/{seg.tag} (segment {seg.position})", "format.edifact.after_unz", {"tag": seg.tag}))
            break
        if seg.tag == "UNH":
            if current is not None:
                issues.append(Issue(current.where, "format.edifact.unt_missing", {"next": seg.position}))
            s009 = seg.composite(1)
            current = Message(len(messages) + 1, seg.get(0), seg.get(1, 0), (seg.get(1, 1), seg.get(1, 2), seg.get(1, 3)))
            messages.append(current)
            current.segments.append(Seg(seg.tag, seg.elements, 1))
            if not current.reference or len(s009) < 4 or not current.type:
                issues.append(Issue(f"{current.where}/UNH (segment 1)", "format.edifact.unh_element", {"value": ":".join(s009)}))
        elif seg.tag == "UNT":
            if current is None:
                issues.append(Issue(f"{where}/UNT (segment {seg.position})", "format.edifact.outside", {"tag": seg.tag, "position": seg.position}))
                continue
            count = len(current.segments) + 1
            current.segments.append(Seg(seg.tag, seg.elements, count))
            pointer = f"{current.where}/UNT (segment {count})"
            declared = seg.get(0)
            if declared != str(count) and not (declared.isdigit() and int(declared) == count):
                issues.append(Issue(pointer, "format.edifact.unt_count", {"declared": declared, "actual": count}))
            if seg.get(1) != current.reference:
                issues.append(Issue(pointer, "format.edifact.unt_reference", {"declared": seg.get(1), "expected": current.reference}))
            current = None
        elif seg.tag == "UNZ":
            if current is not None:
                issues.append(Issue(current.where, "format.edifact.unt_missing", {"next": seg.position}))
                current = None
            unz = seg
        elif seg.tag in {"UNG", "UNE"}:
            groups += seg.tag == "UNG"
        elif current is None:
            issues.append(Issue(f"{where}/{seg.tag} (segment {seg.position})", "format.edifact.outside", {"tag": seg.tag, "position": seg.position}))
            break
        else:
            current.segments.append(Seg(seg.tag, seg.elements, len(current.segments) + 1))
    if unz is None:
        if current is not None:
            issues.append(Issue(current.where, "format.edifact.truncated", {"last": segments[-1].tag, "position": segments[-1].position}))
        else:
            issues.append(Issue(where, "format.edifact.truncated", {"last": segments[-1].tag, "position": segments[-1].position}))
    else:
        pointer = f"{where}/UNZ (segment {unz.position})"
        expected = groups or len(messages)
        declared = unz.get(0)
        if not (declared.isdigit() and int(declared) == expected):
            issues.append(Issue(pointer, "format.edifact.unz_count", {"declared": declared, "actual": expected}))
        if unz.get(1) != control:
            issues.append(Issue(pointer, "format.edifact.unz_reference", {"declared": unz.get(1), "expected": control}))
    if not messages and not issues:
        issues.append(Issue(where, "format.edifact.no_message", {}))
    for message in messages:
        if taken is not None and message.type and message.type not in taken:
            issues.append(Issue(f"{message.where}/UNH (segment 1)", "format.edifact.message_type", {"type": message.type, "taken": ", ".join(taken)}))
        elif message.type and message.version != DIRECTORY:
            issues.append(
                Issue(f"{message.where}/UNH (segment 1)", "format.edifact.message_version", {"type": message.type, "version": ":".join(message.version)})
            )
    if issues:
        raise ValidationFailed(issues)
    return Interchange(syntax, control, messages)


# --- writing ----------------------------------------------------------------------------------

Element = str | Sequence[str]


def _trim(elements: Sequence[Element]) -> list[str | list[str]]:
    out: list[str | list[str]] = []
    for element in elements:
        if isinstance(element, str):
            out.append(element)
        else:
            parts = [p if p is not None else "" for p in element]
            while parts and parts[-1] == "":
                parts.pop()
            out.append(parts[0] if len(parts) == 1 else parts if parts else "")
    while out and out[-1] in ("", []):
        out.pop()
    return out


def serialise(
    messages: Sequence[tuple[str, str, Sequence[Sequence[Element]]]],
    *,
    sender: str,
    recipient: str,
    control_reference: str,
    prepared_at: datetime | None = None,
    syntax: str = "UNOC",
) -> bytes:
    """One interchange: UNA, UNB, each message (type, reference, its segments between UNH and
    UNT as ``[tag, element, ...]``, an element a string or a list of components), UNZ.
    Raises UnicodeEncodeError when a text does not fit ``syntax`` (callers check before)."""
    characters = Characters.from_str(DEFAULT_CHARACTERS)
    moment = (prepared_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    # Syntax version 4 for the ISO 10646 sets (UNOW, UNOY), with its four-digit year; 3 otherwise.
    version, day = ("4", f"{moment:%Y%m%d}") if syntax in ("UNOW", "UNOY") else ("3", f"{moment:%y%m%d}")
    segments = [Segment("UNB", [syntax, version], sender, recipient, [day, f"{moment:%H%M}"], control_reference)]
    for msg_type, reference, body in messages:
        segments.append(Segment("UNH", reference, [msg_type, *DIRECTORY]))
        for tag, *elements in body:
            segments.append(Segment(tag, *_trim(elements)))
        segments.append(Segment("UNT", str(len(body) + 2), reference))
    segments.append(Segment("UNZ", str(len(messages)), control_reference))
    text = Serializer(characters).serialize(segments, with_una_header=True, break_lines=True)
    return text.encode(CHARSETS[syntax])
