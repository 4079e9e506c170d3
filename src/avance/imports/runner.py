"""Bulk import: read a file, validate, assess and store by batches, report every rejected row.

The same ``lodge_batch`` as the API's rules runs here, so a row accepted by the importer is one the
API would accept. Each batch is one transaction: a crash never leaves half a declaration.

A file is CSV or JSON Lines (streamed, checked in worker processes) or a message in one of the
formats of ``avance.formats.registry`` (Avance JSON, WCO DM XML, UN/EDIFACT, ASYCUDA World SAD
XML), read whole into documents: its declarations go through the same batches; its cargo reports
and export notices through their own services, one transaction each, as the API lodges them.
"""

from __future__ import annotations

import csv
import gc
import os
import re
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from multiprocessing import get_context
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from avance.auth.model import SYSTEM, Principal
from avance.kit import csvsafe
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.kit.errors import AvanceError, Issue, ValidationFailed
from avance.kit.i18n import t
from avance.formats import registry
from avance.formats.documents import Document
from avance.formats.mapping import Applier, CellError, Mapping, load_mapping
from avance.bootstrap import Node, open_node
from avance.kit.validation import parse
from avance.manifests import service as manifests
from avance.manifests.model import CargoReport
from avance.movements.matching import service as matching
from avance.movements.payloads import ExportDeclarationNotice
from avance.store import audit
from avance.store.engine import write


@dataclass
class Unit:
    """One declaration's worth of input: its source lines and the document built from them."""

    lines: list[int]
    document: dict[str, Any] | None
    registration_date: str | None
    issues: list[Issue] | None = None
    raw: str | None = None  # an undecoded JSON Lines record


@dataclass
class ImportReport:
    accepted: int
    rejected: int
    seconds: float
    rejects_path: Path | None
    already_stored: int = 0  # the very documents were stored by an earlier run: nothing new

    @property
    def rate(self) -> float:
        return (self.accepted + self.rejected + self.already_stored) / self.seconds if self.seconds > 0 else 0.0


STREAMED = ("csv", "jsonl")
"""The formats read line by line; every other one is a message read whole by the registry."""

_SNIFFED = 64 * 1024


DETECTED = "detect"
"""A message whose format the registry tells from its content (``registry.detect``)."""


def _detect_format(path: Path, fmt: str | None, mapping: Mapping | None) -> str:
    """``csv`` or ``jsonl`` (streamed), or a registry format: as given, as the mapping says, by
    the file's suffix (.csv, .jsonl, .ndjson), else by its content (``DETECTED``)."""
    chosen = fmt or (mapping.format if mapping else None)
    if chosen is None:
        suffix = path.suffix.lower()
        chosen = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix) or _sniff(path)
    if chosen in STREAMED or chosen == DETECTED:
        return chosen
    if chosen == "xml":  # WCO DM or ASYCUDA World: told apart by the root element
        return DETECTED
    return registry.format_name(chosen) or DETECTED


def _sniff(path: Path) -> str:
    """JSON Lines when the file's first line is a whole JSON object (it is streamed, and may hold
    ``{"registration_date", "declaration"}`` records); else a message for the registry."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFFED)
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if first.startswith(b"{"):
        value, _ = _json_object(first.split(b"\n", 1)[0].decode("utf-8", "replace"))
        if value is not None:
            return "jsonl"
    return DETECTED


def _rows(path: Path, fmt: str, mapping: Mapping | None) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, row, problem) for each record of the file."""
    encoding = mapping.encoding if mapping else "utf-8-sig"
    with path.open(newline="", encoding=encoding, errors="replace") as handle:
        if fmt == "csv":
            reader = csv.DictReader(handle, delimiter=mapping.delimiter if mapping else ",")
            for row in reader:
                if None in row:  # more cells than headers
                    yield reader.line_num, None, "extra cells"
                    continue
                yield reader.line_num, row, None
        else:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                value, problem = _json_object(line)
                yield number, value, problem


def _json_object(line: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg})"
    if not isinstance(value, dict):
        return None, "a JSON object is expected"
    return value, None


def _decode(line: str) -> tuple[dict[str, Any] | None, str | None, list[Issue] | None]:
    """A JSON Lines record: a declaration, or ``{"registration_date", "declaration"}``."""
    row, problem = _json_object(line)
    if row is None:
        return None, None, [Issue("", "import.bad_row", {"detail": problem})]
    if "declaration" in row and isinstance(row["declaration"], dict):
        registered = row.get("registration_date")
        return row["declaration"], str(registered) if registered is not None else None, None
    return row, None, None


def _raw_lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _units(path: Path, fmt: str, mapping: Mapping | None) -> Iterator[Unit]:
    if mapping is None:
        if fmt == "csv":
            raise ValidationFailed([Issue("", "import.bad_mapping", {"path": str(path), "detail": "a CSV file needs --mapping"})])
        for number, line in _raw_lines(path):  # decoded by the worker that checks it
            yield Unit([number], None, None, raw=line)
        return
    applier = Applier(mapping)
    pending: list[tuple[int, dict[str, Any]]] = []
    pending_key: tuple[str, ...] | None = None

    def flush() -> Unit:
        lines = [n for n, _ in pending]
        rows = [r for _, r in pending]
        try:
            return Unit(lines, applier.document(rows), applier.registration_date(rows))
        except CellError as exc:
            return Unit(lines, None, None, [Issue("", "import.bad_row", {"detail": f"{exc.column}={exc.value!r}: {exc.expected}"})])

    for number, row, problem in _rows(path, fmt, mapping):
        if row is None:
            yield Unit([number], None, None, [Issue("", "import.bad_row", {"detail": problem})])
            continue
        key = applier.group_key(row) if mapping.group_by else (str(number),)
        if pending and key != pending_key:
            yield flush()
            pending = []
        pending_key = key
        pending.append((number, row))
    if pending:
        yield flush()


_ITEM = re.compile(r"^/goods_items/(\d+)")


def _line_of(unit: Unit, pointer: str) -> int:
    match = _ITEM.match(pointer)
    if match and len(unit.lines) > 1:
        index = int(match.group(1))
        if index < len(unit.lines):
            return unit.lines[index]
    return unit.lines[0]


class _Rejects:
    """The rejects file: one CSV line per reason, with the source line it comes from."""

    def __init__(self, path: Path, lang: str) -> None:
        self.path = path
        self.lang = lang
        self.handle: Any = None
        self.writer: Any = None

    def write(self, unit: Unit, issues: list[Issue], lrn: str | None = None) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = self.path.open("w", newline="", encoding="utf-8")
            self.writer = csvsafe.writer(self.handle)  # no cell a spreadsheet takes for a formula
            self.writer.writerow([t(f"rejects.col.{name}", self.lang) for name in ("line", "lrn", "pointer", "code", "reason")])
        if lrn is None:
            lrn = str((unit.document or {}).get("lrn", "")) if isinstance(unit.document, dict) else ""
        for issue in issues:
            self.writer.writerow([_line_of(unit, issue.pointer), lrn, issue.pointer, issue.code, issue.message(self.lang)])

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def _registration(unit: Unit, today: date) -> tuple[date | None, list[Issue]]:
    if unit.registration_date is None:
        return today, []
    try:
        return date.fromisoformat(unit.registration_date[:10]), []
    except ValueError:
        return None, [Issue("/registration_date", "import.bad_date", {"value": unit.registration_date})]


Work = tuple[dict[str, Any] | None, str | None, str | None, list[Issue] | None]
"""What a worker needs of a unit: the document or its raw JSON line, its registration date, and the
issues found while reading."""

Result = tuple[int | None, list[Issue] | None, str | None, bool]
"""The stored id, or the issues; the LRN when it could be read; whether the very document was
already stored (an import run again)."""


class ImportAbandoned(Exception):
    """The process that ran the import is gone: a worker stores nothing more (its transaction rolls back)."""


def lodge_units(
    node: Node,
    principal: Principal,
    work: list[Work],
    today: date,
    selection: str = "stream",
    *,
    wanted: Callable[[], bool] | None = None,
    turn: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> list[Result]:
    """Parse, check, assess and store one batch; the CPU work happens outside the transaction.

    ``turn`` is entered around the write transaction: worker processes store their batches in
    the order of the file, so that of two declarations of one consignment the earlier line is
    the one kept. ``wanted`` is asked inside the write transaction, just before it commits: when
    it says no (the import's process was killed), nothing of the batch is stored."""
    results: list[Result | None] = [None] * len(work)
    parsed: list[tuple[int, GoodsDeclaration, date]] = []
    for position, (document, raw, registration, issues) in enumerate(work):
        if raw is not None:
            document, registration, issues = _decode(raw)
        lrn = document.get("lrn") if isinstance(document, dict) else None
        lrn = str(lrn) if lrn is not None else None
        if issues:
            results[position] = (None, issues, lrn, False)
            continue
        registered, issues = _registration(Unit([], document, registration), today)
        if issues:
            results[position] = (None, issues, lrn, False)
            continue
        try:
            parsed.append((position, parse(GoodsDeclaration, document), registered))  # type: ignore[arg-type]
        except ValidationFailed as exc:
            results[position] = (None, exc.issues, lrn, False)
    if parsed:
        references = [d.manifest_reference for _, d, _ in parsed if d.manifest_reference]
        manifests: dict[str, Any] = {}  # cargo report → its bills (service.cited_manifests)
        if references:
            with node.engine.connect() as conn:
                manifests = service.cited_manifests(conn, references)
        batch = [(d, r) for _, d, r in parsed]
        prepared = service.prepare_batch(node.context, batch, principal, manifests, selection=selection)
        with turn(), write(node.engine) as conn:
            now = datetime.now(timezone.utc)
            outcome = service.store_batch(conn, node.context, prepared, principal, [now] * len(prepared))
            if wanted is not None and not wanted():
                raise ImportAbandoned
        for (position, d, _), stored, issues, replayed in zip(parsed, outcome.ids, outcome.issues, outcome.replayed):
            results[position] = (stored, issues, d.lrn, replayed)
    return results  # type: ignore[return-value]


@dataclass(frozen=True)
class _Turns:
    """How many batches of a run are stored (shared by its worker processes), and the condition
    a worker waits on for its batch's turn."""

    count: Any  # multiprocessing.Value("q")
    changed: Any  # multiprocessing.Condition on count's lock


_WORKER: tuple[Node, Principal, int, _Turns] | None = None


def _start_worker(settings: Any, principal: Principal, parent: int, stored: _Turns) -> None:
    """Set up a worker process of the import run by process ``parent``; ``stored`` is the shared
    count of the run's batches stored so far and the condition on its lock (``_Turns``)."""
    global _WORKER
    _WORKER = (open_node(settings), principal, parent, stored)
    threading.Thread(target=_exit_with, args=(parent,), name="avance-import-parent-watch", daemon=True).start()
    # A worker allocates many short-lived objects that reference counting frees; the cyclic
    # collector's frequent passes over the long-lived ones (modules, schemas, the node's
    # reference data) cost about a third of its time. Freeze those and collect less often.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _exit_with(parent: int) -> None:
    """End this worker soon after process ``parent`` is gone: a worker waiting for its next batch
    would otherwise wait forever (it holds its own end of the queue). A batch being stored is
    either committed whole or not at all."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(3)


def _work_in_worker(work: list[Work], today: date, selection: str, number: int) -> list[Result]:
    """Check and assess batch ``number`` of the run (in parallel with the other workers), then
    store it once the batches before it are stored; the next one's turn comes even when this
    batch stores nothing or fails."""
    assert _WORKER is not None, "worker not started"
    node, principal, parent, stored = _WORKER
    taken = False

    def wanted() -> bool:  # a killed parent leaves its workers to another parent (POSIX)
        return os.getppid() == parent

    def wait_for_turn() -> None:
        with stored.changed:
            while stored.count.value != number:
                if not wanted():
                    raise ImportAbandoned
                stored.changed.wait(0.5)

    def pass_turn() -> None:
        with stored.changed:
            stored.count.value = number + 1
            stored.changed.notify_all()

    @contextmanager
    def turn() -> Iterator[None]:
        nonlocal taken
        wait_for_turn()
        taken = True
        try:
            yield
        finally:
            pass_turn()

    try:
        if not wanted():
            raise ImportAbandoned
        try:
            return lodge_units(node, principal, work, today, selection, wanted=wanted, turn=turn)
        finally:
            if not taken:
                wait_for_turn()
                pass_turn()
    except ImportAbandoned:  # nobody will read our results: stop now (the batch was rolled back)
        node.engine.dispose()
        os._exit(3)


REFERENCES = {"cargo_report": "reference", "export_notice": "export_declaration_reference"}
"""The field holding the sender's reference of each document other than a declaration (``lrn``)."""


def lodge_document(node: Node, principal: Principal, document: Document) -> Result:
    """Lodge one cargo report or export notice as its API route does: validated by its model,
    stored by its service in one transaction. The result is as ``lodge_units``'s."""
    reference = str(document.body.get(REFERENCES.get(document.kind, "lrn"), "")) or None
    try:
        with write(node.engine) as conn:
            if document.kind == "cargo_report":
                lodged = manifests.lodge(conn, node.context, parse(CargoReport, document.body), principal, screen=node.screen_cargo)
                stored, replayed = lodged.id, lodged.replayed
            elif document.kind == "export_notice":
                sent = matching.send_notice(conn, node.context, parse(ExportDeclarationNotice, document.body))
                stored, replayed = sent.id, sent.replayed
            else:
                raise ValueError(f"not a cargo report or an export notice: {document.kind}")
    except ValidationFailed as exc:
        return None, exc.issues, reference, False
    except AvanceError as exc:  # a conflict, a refusal: one reason, with its key and parameters
        return None, [Issue("", exc.code, exc.params)], reference, False
    return stored, None, reference, replayed


def _chunks(units: Iterator[Unit], size: int) -> Iterator[list[Unit]]:
    chunk: list[Unit] = []
    for unit in units:
        chunk.append(unit)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_import(
    node: Node,
    path: Path,
    *,
    mapping_path: Path | None = None,
    fmt: str | None = None,
    rejects_path: Path | None = None,
    batch_size: int = 500,
    workers: int | None = None,
    lang: str = "fr",
    console: Console | None = None,
    principal: Principal = SYSTEM,
    selection: str = "stream",
) -> ImportReport:
    """Import declarations from ``path``; rejected ones are listed in the rejects file.

    Batches are checked and assessed in ``workers`` processes (default: one per core) that each
    store their own batches, in the order of the file; a small file is done in this process. ``selection="batch"`` places
    each batch's declarations in lanes together, each office's budget applied to the batch (for
    a file holding one vessel's declarations, use a batch size at least its number of lines).
    """
    mapping = load_mapping(mapping_path) if mapping_path else None
    fmt = _detect_format(path, fmt, mapping)
    rejects_path = rejects_path or path.with_name(path.name + ".rejects.csv")
    rejects = _Rejects(rejects_path, lang)
    accepted = rejected = already = 0
    started = time.perf_counter()
    today = datetime.now(timezone.utc).date()
    others: list[tuple[int, Document]] = []
    if fmt in STREAMED:
        units = _units(path, fmt, mapping)
        with path.open("rb") as counted:
            total_lines = max(sum(1 for _ in counted), 1)
    else:
        try:
            documents = registry.read(path.read_bytes(), None if fmt == DETECTED else fmt, mapping=mapping)
        except ValidationFailed as exc:  # the message as a whole: nothing of it is stored
            rejects.write(Unit([0], None, None), exc.issues, "")
            rejects.close()
            return ImportReport(0, 1, time.perf_counter() - started, rejects_path)
        declared = []
        with node.engine.connect() as conn:  # a message's declaration may take its arrival from the lodged cargo report
            for n, d in enumerate(documents, start=1):
                if d.kind != "declaration":
                    continue
                try:
                    declared.append(Unit([n], service.with_expected_arrival(conn, d.body), None))
                except ValidationFailed as exc:
                    rejected += 1
                    rejects.write(Unit([n], d.body, None), exc.issues, str(d.body.get("lrn") or ""))
        others = [(n, d) for n, d in enumerate(documents, start=1) if d.kind != "declaration"]
        units = iter(declared)
        total_lines = max(len(documents), 1)
    workers = workers or os.cpu_count() or 1
    if total_lines <= 2 * batch_size:
        workers = 1
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console or Console(stderr=True), transient=False, disable=console is None
    )

    def settle(chunk: list[Unit], results: list[Result]) -> None:
        nonlocal accepted, rejected, already
        for unit, (stored, issues, lrn, replayed) in zip(chunk, results):
            if replayed:
                already += 1
            elif stored is not None:
                accepted += 1
            else:
                rejected += 1
                rejects.write(unit, issues or [], lrn)
        progress.update(task, completed=chunk[-1].lines[-1], description=f"{path.name} ({accepted} ✓ {rejected} ✗)")

    def work_of(chunk: list[Unit]) -> list[Work]:
        return [(u.document, u.raw, u.registration_date, u.issues) for u in chunk]

    pool = None
    if workers > 1:
        settings = node.settings.model_copy(update={"database_url": node.engine.url.render_as_string(hide_password=False)})
        spawn = get_context("spawn")
        count = spawn.Value("q", 0)
        turns = _Turns(count, spawn.Condition(count.get_lock()))
        pool = ProcessPoolExecutor(workers, mp_context=spawn, initializer=_start_worker, initargs=(settings, principal, os.getpid(), turns))
    try:
        with progress:
            task = progress.add_task(path.name, total=total_lines)
            pending: deque[tuple[list[Unit], Future[list[Result]]]] = deque()
            for number, document in others:
                stored, issues, reference, replayed = lodge_document(node, principal, document)
                if replayed:
                    already += 1
                elif stored is not None:
                    accepted += 1
                else:
                    rejected += 1
                    rejects.write(Unit([number], document.body, None), issues or [], reference)
            for number, chunk in enumerate(_chunks(units, batch_size)):
                if pool is None:
                    settle(chunk, lodge_units(node, principal, work_of(chunk), today, selection))
                    continue
                pending.append((chunk, pool.submit(_work_in_worker, work_of(chunk), today, selection, number)))
                while len(pending) > 2 * workers:
                    done_chunk, future = pending.popleft()
                    settle(done_chunk, future.result())
            while pending:
                done_chunk, future = pending.popleft()
                settle(done_chunk, future.result())
            progress.update(task, completed=total_lines)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        rejects.close()
    seconds = time.perf_counter() - started
    with write(node.engine) as conn:  # the audit trail: one record per run, with its counts
        audit.record(conn, principal, "bulk_import.run", "import_file", path.name, after={"file": str(path), "format": fmt, "accepted": accepted, "rejected": rejected, "already_stored": already})
    return ImportReport(accepted, rejected, seconds, rejects_path if rejected else None, already)
