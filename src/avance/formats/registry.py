"""Every format Avance reads and writes, by name: telling a message's format from its first bytes
(``detect``), reading it into Avance documents (``read``) and writing documents in a format
(``write``). The command line (``avance convert``, ``avance import``, ``avance watch``) and the
API (by ``Content-Type``) go through here, so that a format is read the same way everywhere.

=========  ==================================================  =================================
name       what                                                documents
=========  ==================================================  =================================
json       Avance's own JSON: one object, or JSON Lines        declarations, cargo reports,
                                                               export notices
wco-xml    WCO Data Model 3.6 XML (DEC)                        declarations, export notices
edifact    UN/EDIFACT D.99B interchange (CUSDEC, CUSCAR)       declarations, export notices,
                                                               cargo reports
asycuda    ASYCUDA World SAD XML (root ``ASYCUDA``)            declarations
=========  ==================================================  =================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from avance.formats import asycuda, edifact, wco
from avance.formats.documents import Document, Kind
from avance.formats.xml import parse as parse_xml
from avance.kit.errors import Issue, ValidationFailed

JSON = "json"
WCO_XML = "wco-xml"
EDIFACT = "edifact"
ASYCUDA = "asycuda"
FORMATS: tuple[str, ...] = (JSON, WCO_XML, EDIFACT, ASYCUDA)
"""The formats' names, as ``--from``/``--to`` take them."""

MEDIA_TYPES: dict[str, str] = {JSON: "application/json", WCO_XML: "application/xml", EDIFACT: "application/edifact", ASYCUDA: "application/xml"}
"""The media type each format is sent as over HTTP."""

_BOM = b"\xef\xbb\xbf"
_BLANK = b" \t\r\n"


_UTF16 = (b"\xff\xfe", b"\xfe\xff")
"""The byte-order marks of UTF-16 (little and big endian): an XML message may be written so."""


def _head(data: bytes) -> bytes:
    """The first meaningful bytes: after a UTF-8 byte-order mark and blank lines; a UTF-16 text
    (its byte-order mark) as its first characters in ASCII, so that its opening ``<`` is seen."""
    if data.startswith(_UTF16):
        return data[:64].decode("utf-16", errors="ignore").lstrip().encode("ascii", errors="replace")[:16]
    text = data[3:] if data.startswith(_BOM) else data
    return text.lstrip(_BLANK)[:16]


def format_name(name: str | None) -> str | None:
    """``name`` as one of ``FORMATS`` (case and ``wco``/``xml`` spellings tolerated); None stays
    None; else ValidationFailed ``format.unknown_name``."""
    if name is None:
        return None
    wanted = name.strip().lower()
    wanted = {"wco": WCO_XML, "wcoxml": WCO_XML, "dec": WCO_XML, "edi": EDIFACT, "sad": ASYCUDA, "jsonl": JSON, "ndjson": JSON}.get(wanted.replace("_", "").replace("-", ""), wanted)
    if wanted not in FORMATS:
        raise ValidationFailed([Issue("", "format.unknown_name", {"name": name, "known": ", ".join(FORMATS)})])
    return wanted


def detect(data: bytes) -> str:
    """The format of ``data``: an XML message by its root element (a WCO DM ``Declaration`` or an
    ASYCUDA World ``ASYCUDA`` SAD), a UN/EDIFACT interchange by its ``UNA``/``UNB`` opening, Avance
    JSON by its opening brace. Anything else: ValidationFailed ``format.unknown``."""
    head = _head(data)
    if head.startswith(b"<"):
        root = parse_xml(data, what="XML")
        if wco.is_dec(root):
            return WCO_XML
        if asycuda.is_sad(root):
            return ASYCUDA
        tag = root.tag if isinstance(root.tag, str) else "?"
        raise ValidationFailed([Issue("/" + tag.split("}")[-1], "format.unknown_root", {"root": tag})])
    if head[:3] in (b"UNA", b"UNB"):
        return EDIFACT
    if head.startswith((b"{", b"[")):
        return JSON
    if not head:
        raise ValidationFailed([Issue("", "format.empty", {})])
    raise ValidationFailed([Issue("", "format.unknown", {"start": head[:8].decode("latin-1")})])


def read(data: bytes, fmt: str | None = None, *, mapping: Any = None) -> list[Document]:
    """The documents ``data`` holds, read as format ``fmt`` (detected when None). ``mapping`` is
    the path mapping of an ASYCUDA World export (the other formats take none)."""
    fmt = format_name(fmt) or detect(data)
    if fmt == JSON:
        documents = read_json(data)
    elif fmt == WCO_XML:
        documents = wco.read(data)
    elif fmt == EDIFACT:
        documents = edifact.read(data)
    else:
        documents = asycuda.read(data, mapping=mapping)
    if not documents:
        raise ValidationFailed([Issue("", "format.no_document", {"format": fmt})])
    return documents


def write(docs: Sequence[Document], fmt: str, *, mapping: Any = None) -> bytes:
    """``docs`` as one message (or JSON text) in format ``fmt``."""
    fmt = format_name(fmt) or JSON
    docs = list(docs)
    if fmt == JSON:
        return write_json(docs)
    if fmt == WCO_XML:
        _writable(docs, fmt, ("declaration", "export_notice"))
        return wco.write(docs)
    if fmt == EDIFACT:
        return edifact.write(docs)
    _writable(docs, fmt, ("declaration",))
    return asycuda.write(docs, mapping=mapping)


def _writable(docs: Iterable[Document], fmt: str, kinds: tuple[Kind, ...]) -> None:
    wrong = [Issue(f"/{i}", "format.cannot_write", {"kind": d.kind, "format": fmt}) for i, d in enumerate(docs) if d.kind not in kinds]
    if wrong:
        raise ValidationFailed(wrong)


# --- Avance's own JSON -----------------------------------------------------------------------------


def kind_of(body: dict[str, Any]) -> Kind | None:
    """Which document an Avance JSON object is, told from its keys: a declaration has ``lrn`` and
    ``goods_items``, a cargo report ``bills_of_lading``, an export notice
    ``export_declaration_reference``."""
    if "lrn" in body and "goods_items" in body:
        return "declaration"
    if "bills_of_lading" in body:
        return "cargo_report"
    if "export_declaration_reference" in body:
        return "export_notice"
    return None


def _document(value: Any, where: str) -> tuple[Document | None, Issue | None]:
    if not isinstance(value, dict):
        return None, Issue(where, "format.json.not_object", {})
    kind = kind_of(value)
    if kind is None:
        return None, Issue(where, "format.json.unknown_kind", {})
    return Document(kind, value), None


def read_json(data: bytes) -> list[Document]:
    """Avance JSON: one object, an array of objects, or JSON Lines (one object a line). Every line
    that is not a document is an issue (pointer ``line N``)."""
    text = data[3:] if data.startswith(_BOM) else data
    try:
        whole = orjson.loads(text)
    except orjson.JSONDecodeError:
        whole = None
        lines = True
    else:
        lines = False
    if not lines:
        values = whole if isinstance(whole, list) else [whole]
        pointers = [f"/{i}" for i in range(len(values))] if isinstance(whole, list) else [""]
        found = [_document(v, p) for v, p in zip(values, pointers)]
    else:
        found = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"line {number}"
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                found.append((None, Issue(where, "format.json.malformed", {"reason": str(exc)})))
                continue
            found.append(_document(value, where))
    issues = [issue for _, issue in found if issue is not None]
    if issues:
        raise ValidationFailed(issues)
    return [document for document, _ in found if document is not None]


def write_json(docs: Sequence[Document]) -> bytes:
    """One document as an indented JSON object; several as JSON Lines. UTF-8, names as they are."""
    if len(docs) == 1:
        return orjson.dumps(docs[0].body, option=orjson.OPT_INDENT_2) + b"\n"
    return b"".join(orjson.dumps(d.body) + b"\n" for d in docs)
