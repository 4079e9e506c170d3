"""Bulk import: read a file, validate, assess and store by batches, report every rejected row.

The same ``lodge_batch`` as the API's rules runs here, so a row accepted by the importer is one the
API would accept. Each batch is one transaction: a crash never leaves half a declaration.
"""

from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from avance.auth.model import SYSTEM, Principal
from avance.declarations import service
from avance.declarations.model import GoodsDeclaration
from avance.errors import Issue, ValidationFailed
from avance.i18n import t
from avance.imports.mapping import Applier, CellError, Mapping, load_mapping
from avance.node import Node
from avance.validation import parse
from avance.store.engine import write


@dataclass
class Unit:
    """One declaration's worth of input: its source lines and the document built from them."""

    lines: list[int]
    document: dict[str, Any] | None
    registration_date: str | None
    issues: list[Issue] | None = None


@dataclass
class ImportReport:
    accepted: int
    rejected: int
    seconds: float
    rejects_path: Path | None

    @property
    def rate(self) -> float:
        return (self.accepted + self.rejected) / self.seconds if self.seconds > 0 else 0.0


def _detect_format(path: Path, fmt: str | None, mapping: Mapping | None) -> str:
    chosen = fmt or (mapping.format if mapping else None)
    if chosen is None:
        suffix = path.suffix.lower()
        chosen = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix)
    if chosen not in ("csv", "jsonl"):
        raise ValidationFailed([Issue("", "import.bad_format", {"path": str(path)})])
    return chosen


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
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, None, f"invalid JSON ({exc.msg})"
                    continue
                if not isinstance(value, dict):
                    yield number, None, "a JSON object is expected"
                    continue
                yield number, value, None


def _units(path: Path, fmt: str, mapping: Mapping | None) -> Iterator[Unit]:
    if mapping is None:
        if fmt == "csv":
            raise ValidationFailed([Issue("", "import.bad_mapping", {"path": str(path), "detail": "a CSV file needs --mapping"})])
        for number, row, problem in _rows(path, fmt, None):
            if row is None:
                yield Unit([number], None, None, [Issue("", "import.bad_row", {"detail": problem})])
            elif "declaration" in row and isinstance(row["declaration"], dict):
                registered = row.get("registration_date")
                yield Unit([number], row["declaration"], str(registered) if registered is not None else None)
            else:
                yield Unit([number], row, None)
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

    def write(self, unit: Unit, issues: list[Issue]) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = self.path.open("w", newline="", encoding="utf-8")
            self.writer = csv.writer(self.handle)
            self.writer.writerow(["line", "lrn", "pointer", "code", "reason"])
        lrn = (unit.document or {}).get("lrn", "") if isinstance(unit.document, dict) else ""
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


def run_import(
    node: Node,
    path: Path,
    *,
    mapping_path: Path | None = None,
    fmt: str | None = None,
    rejects_path: Path | None = None,
    batch_size: int = 500,
    lang: str = "fr",
    console: Console | None = None,
    principal: Principal = SYSTEM,
) -> ImportReport:
    """Import declarations from ``path``; rejected ones are listed in the rejects file."""
    mapping = load_mapping(mapping_path) if mapping_path else None
    fmt = _detect_format(path, fmt, mapping)
    rejects_path = rejects_path or path.with_name(path.name + ".rejects.csv")
    rejects = _Rejects(rejects_path, lang)
    accepted = rejected = 0
    started = time.perf_counter()
    today = datetime.now(timezone.utc).date()
    with path.open("rb") as counted:
        total_lines = max(sum(1 for _ in counted), 1)
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console or Console(stderr=True), transient=False, disable=console is None
    )
    batch: list[tuple[Unit, GoodsDeclaration, date]] = []

    def store() -> None:
        nonlocal accepted, rejected
        if not batch:
            return
        with write(node.engine) as conn:
            outcome = service.lodge_batch(conn, node.context, [(d, r) for _, d, r in batch], principal)
        for (unit, _, _), stored, issues in zip(batch, outcome.ids, outcome.issues):
            if stored is not None:
                accepted += 1
            else:
                rejected += 1
                rejects.write(unit, issues or [])
        batch.clear()

    try:
        with progress:
            task = progress.add_task(path.name, total=total_lines)
            done_lines = 0
            for unit in _units(path, fmt, mapping):
                done_lines = unit.lines[-1]
                issues = unit.issues
                declaration = None
                registered = None
                if issues is None:
                    registered, issues = _registration(unit, today)
                if not issues:
                    try:
                        declaration = parse(GoodsDeclaration, unit.document)
                    except ValidationFailed as exc:
                        issues = exc.issues
                if issues:
                    rejected += 1
                    rejects.write(unit, issues)
                else:
                    batch.append((unit, declaration, registered))  # type: ignore[arg-type]
                if len(batch) >= batch_size:
                    store()
                    progress.update(task, completed=done_lines, description=f"{path.name} ({accepted} ✓ {rejected} ✗)")
            store()
            progress.update(task, completed=total_lines)
    finally:
        rejects.close()
    seconds = time.perf_counter() - started
    return ImportReport(accepted, rejected, seconds, rejects_path if rejected else None)
