"""UN/EDIFACT D.99B: CUSDEC and CUSCAR in and out, CUSRES out.

- ``read(data)``: an interchange (UNA optional, UNB...UNZ, one or more messages) into Avance
  documents: a CUSDEC import declaration (BGM 929) into a declaration, a CUSDEC export declaration
  (BGM 830) into an export notice, a CUSCAR into a cargo report. Any other message type is refused
  by name. Every problem is reported at once in a ``ValidationFailed`` whose pointers name the
  message, the segment and its position.
- ``write(docs)``: one interchange, one message per document.
- ``write_cusres(answer)``: Avance's answer as a CUSRES interchange.
- ``detect(data)``: the message type an interchange carries, for the format registry.

pydifact tokenises and escapes; ``syntax`` checks the envelope and the character set,
``structure`` the D.99B segment groups, ``cusdec``/``cuscar``/``cusres`` map the content.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from avance.formats.documents import Answer, Document
from avance.formats.edifact import cuscar, cusdec, cusres, structure, syntax
from avance.formats.edifact.common import Reading
from avance.kit.errors import Issue, ValidationFailed

__all__ = ["detect", "read", "write", "write_cusres"]

SENDER = "AVANCE"
WRITERS = {
    "declaration": ("CUSDEC", cusdec.write_declaration),
    "export_notice": ("CUSDEC", cusdec.write_export_notice),
    "cargo_report": ("CUSCAR", cuscar.write),
}


def read(data: bytes) -> list[Document]:
    """The documents of an EDIFACT interchange, one per message, in order."""
    interchange = syntax.parse(data)
    documents: list[Document] = []
    issues: list[Issue] = []
    for message in interchange.messages:
        tree, problems = structure.check(message)
        if problems:
            issues.extend(problems)
            continue
        reading = Reading(message)
        try:
            document = _content(message, tree, reading)
        except (IndexError, KeyError, ValueError, TypeError, ArithmeticError) as exc:
            # A last guard: content this mapping did not foresee is one more issue of the
            # message, never a traceback.
            issues.append(Issue(message.where, "format.edifact.unreadable", {"reason": type(exc).__name__}))
            continue
        issues.extend(reading.issues)
        if document is not None:
            documents.append(document)
    if issues:
        raise ValidationFailed(issues)
    return documents


def _content(message: syntax.Message, tree: list[Any], reading: Reading) -> Document | None:
    if message.type == "CUSCAR":
        return Document("cargo_report", cuscar.read(message, tree, reading))
    kind = cusdec.document_kind(message, tree, reading)
    if kind == "declaration":
        return Document("declaration", cusdec.read_declaration(message, tree, reading))
    if kind == "export_notice":
        return Document("export_notice", cusdec.read_export_notice(message, tree, reading))
    return None


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _texts(v)]
    return []


def _charset(texts: list[str]) -> str:
    """UNOC (ISO 8859-1) when every text fits, else UNOW (UTF-8), so that no name is mangled."""
    try:
        for text in texts:
            text.encode("latin-1")
    except UnicodeEncodeError:
        return "UNOW"
    return "UNOC"


def _interchange(
    messages: list[tuple[str, str, Sequence[Sequence[Any]]]],
    texts: list[str],
    *,
    sender: str,
    recipient: str,
    control_reference: str | None,
    prepared_at: datetime | None,
) -> bytes:
    return syntax.serialise(
        messages,
        sender=sender,
        recipient=recipient,
        control_reference=control_reference or uuid.uuid4().hex[:14].upper(),
        prepared_at=prepared_at,
        syntax=_charset(texts),
    )


def write(
    docs: list[Document],
    *,
    sender: str = SENDER,
    recipient: str = SENDER,
    control_reference: str | None = None,
    prepared_at: datetime | None = None,
) -> bytes:
    """One interchange, one message per document: CUSDEC for a declaration (BGM 929) and for an
    export notice (BGM 830), CUSCAR for a cargo report."""
    messages: list[tuple[str, str, Sequence[Sequence[Any]]]] = []
    issues: list[Issue] = []
    for index, doc in enumerate(docs):
        writer = WRITERS.get(doc.kind)
        if writer is None:
            issues.append(Issue(f"/{index}", "format.edifact.write_kind", {"kind": doc.kind}))
            continue
        message_type, build = writer
        try:
            messages.append((message_type, str(index + 1), build(doc.body)))
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            issues.append(Issue(f"/{index}", "format.edifact.write_invalid", {"kind": doc.kind, "reason": type(exc).__name__}))
    if not docs:
        issues.append(Issue("", "format.edifact.write_empty", {}))
    if issues:
        raise ValidationFailed(issues)
    texts = [t for doc in docs for t in _texts(doc.body)]
    return _interchange(messages, texts, sender=sender, recipient=recipient, control_reference=control_reference, prepared_at=prepared_at)


def write_cusres(
    answer: Answer,
    *,
    sender: str = SENDER,
    recipient: str = SENDER,
    control_reference: str | None = None,
) -> bytes:
    """Avance's answer (accepted, rejected with every error and its pointer, tax calculation,
    control required, released) as a CUSRES interchange."""
    texts = [answer.reference, answer.identifier or "", answer.lane or "", answer.office_code or ""]
    texts += [t for e in answer.errors for t in (e.pointer, e.code, e.message)]
    return _interchange(
        [("CUSRES", "1", cusres.write(answer))], texts, sender=sender, recipient=recipient, control_reference=control_reference, prepared_at=answer.issued_at
    )


_HEAD = re.compile(rb"^\s*(UNA(.)(.).(.).(.)|UNB)", re.DOTALL)


def detect(data: bytes) -> str | None:
    """``cusdec``, ``cuscar`` or the (lower-case) type of the first UNH; ``edifact`` for an
    interchange whose message type cannot be found; None when ``data`` is not EDIFACT."""
    head = data[:65536]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    found = _HEAD.match(head)
    if found is None:
        return None
    if found.group(2) is not None:
        component, separator, terminator = found.group(2), found.group(3), found.group(5)
    else:
        component, separator, terminator = b":", b"+", b"'"
    if not head.lstrip()[9:].lstrip().startswith(b"UNB") and found.group(2) is not None:
        return None
    unh = re.search(
        re.escape(terminator)
        + rb"\s*UNH"
        + re.escape(separator)
        + rb"[^"
        + re.escape(separator)
        + rb"]*"
        + re.escape(separator)
        + rb"([A-Z0-9]{1,6})"
        + re.escape(component),
        head,
    )
    if unh is None:
        return "edifact"
    return unh.group(1).decode("ascii").lower()
