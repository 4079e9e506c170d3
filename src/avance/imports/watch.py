"""A watched drop folder (``avance watch DIR``): what a legacy system writes there is imported, then
moved to ``DIR/done/`` or to ``DIR/rejected/`` with ``<name>.errors.txt`` giving its reasons.

By polling, so that it works on network shares (no file-system events there). The rules:

- a file still being written is never taken: its size and modification time must be the same at
  two polls in a row, and temporary names (``.*``, ``*.part``, ``*.tmp``, ``*.partial``,
  ``*.crdownload``, ``*.filepart``, ``*~``) are ignored until renamed;
- a file is claimed by renaming it into the watcher's own ``DIR/.processing-<watcher>/``: a rename
  is atomic, so of two watchers on one folder exactly one gets it;
- the ledger (``avance.store.files.watched_files``, one row per content digest and name, written
  in a transaction) says what became of it: a file dropped again with the same name and content
  is not imported twice (it is rejected as a duplicate), and a watcher that stopped half-way
  (killed, machine restarted) is taken over: the files in its ``.processing-*`` folder are
  adopted by the next watcher, which finishes what the ledger says is left (an import run again
  stores nothing twice: the importer counts the documents already stored);
- a failure that is not the file's (the database does not answer) puts the file back in ``DIR``
  to be tried again at a later poll; nothing is lost.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from avance.auth.model import SYSTEM, Principal
from avance.bootstrap import Node
from avance.imports.runner import run_import
from avance.kit.errors import ValidationFailed
from avance.kit.i18n import t
from avance.store.engine import write
from avance.store.files import watched_files

log = logging.getLogger("avance.imports.watch")

DONE = "done"
REJECTED = "rejected"
PROCESSING = ".processing-"
TEMPORARY = (".*", "*.part", "*.tmp", "*.partial", "*.crdownload", "*.filepart", "*~", "*.rejects.csv")
"""Names never taken: files still being written under a temporary name, and what Avance writes."""

STALE_AFTER = 300.0
"""Seconds after which another watcher's ``.processing-*`` folder, not touched since, is adopted
(a live watcher touches its own at every poll and while it imports)."""

Signature = tuple[int, int]  # size, modification time (ns)


@dataclass(frozen=True)
class Outcome:
    """What became of one file: where it went, and how many of its documents were stored or refused."""

    name: str
    state: str  # done | rejected | retry
    accepted: int = 0
    rejected: int = 0
    already: int = 0
    duplicate: bool = False
    moved_to: Path | None = None
    detail: str | None = None  # why it is to be tried again (state retry)


def digest_of(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def temporary(name: str) -> bool:
    return any(fnmatch(name, pattern) for pattern in TEMPORARY)


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem-2.ext`` and so on when a file of that name is already there."""
    target = folder / name
    number = 2
    while target.exists():
        stem, dot, suffix = name.partition(".")
        target = folder / f"{stem}-{number}{dot}{suffix}"
        number += 1
    return target


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class Watcher:
    """One watcher of ``folder``, importing into ``node``."""

    def __init__(
        self,
        node: Node,
        folder: Path,
        *,
        interval: float = 5.0,
        lang: str = "fr",
        fmt: str | None = None,
        mapping_path: Path | None = None,
        principal: Principal = SYSTEM,
        stale_after: float = STALE_AFTER,
        report: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.node = node
        self.folder = folder
        self.interval = interval
        self.lang = lang
        self.fmt = fmt
        self.mapping_path = mapping_path
        self.principal = principal
        self.stale_after = stale_after
        self.report = report or (lambda outcome: None)
        self.host = socket.gethostname().replace("-", "_")[:40] or "host"
        self.id = f"{self.host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.own = folder / f"{PROCESSING}{self.id}"
        self.stop = threading.Event()

    # --- the loop ----------------------------------------------------------------------------

    def run(self, *, once: bool = False) -> list[Outcome]:
        """Poll until ``stop`` is set (or, with ``once``, for two polls: what is there and stable is
        processed, then it returns). The outcomes of the files processed, in order."""
        for sub in (DONE, REJECTED):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.own.mkdir(exist_ok=True)
        outcomes: list[Outcome] = []
        beating = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(beating,), name="avance-watch-heartbeat", daemon=True)
        heart.start()
        try:
            outcomes += self.recover()
            previous = self.scan()
            while not self.stop.wait(self.interval):
                current = self.scan()
                for name in sorted(n for n, signature in current.items() if previous.get(n) == signature):
                    if self.stop.is_set():
                        break
                    outcome = self.take(name)
                    if outcome is not None:
                        outcomes.append(outcome)
                        self.report(outcome)
                if once:
                    break
                outcomes += self.recover()
                previous = current
        finally:
            beating.set()
            heart.join()
            self._leave()
        return outcomes

    def _heartbeat(self, done: threading.Event) -> None:
        """Touch this watcher's processing folder while it runs, imports included: other watchers
        adopt a folder left untouched for ``stale_after`` seconds."""
        period = max(min(self.stale_after / 5, 30.0), 0.05)
        while not done.wait(period):
            try:
                os.utime(self.own)
            except FileNotFoundError:
                return

    def scan(self) -> dict[str, Signature]:
        """The files of the folder that may be taken, with their size and modification time."""
        found: dict[str, Signature] = {}
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return found
        for entry in entries:
            if temporary(entry.name):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # taken meanwhile
                continue
            found[entry.name] = (stat.st_size, stat.st_mtime_ns)
        return found

    def _leave(self) -> None:
        """Remove this watcher's processing folder when it is empty (it is, unless a file failed
        to move: then it stays, and another watcher adopts it later)."""
        try:
            self.own.rmdir()
        except OSError:
            pass

    # --- one file ------------------------------------------------------------------------------

    def take(self, name: str) -> Outcome | None:
        """Claim ``name`` by renaming it into this watcher's folder, then process it; None when
        another watcher took it first."""
        claimed = self.own / name
        try:
            os.rename(self.folder / name, claimed)
        except FileNotFoundError:
            return None
        try:
            return self.process(claimed, adopted=False)
        except Exception as exc:  # not the file's fault (the database does not answer): tried again later
            log.error("%s: %s", name, exc)
            self._retry(claimed)
            return Outcome(name, "retry", detail=" ".join(str(exc).split())[:300] or type(exc).__name__)

    def process(self, claimed: Path, *, adopted: bool) -> Outcome:
        """Import a claimed file as the ledger says, then move it to done/ or rejected/.

        ``adopted``: taken over from a watcher that stopped; a ledger row already settled then
        means the file was imported and only its move was left (not a duplicate)."""
        name = claimed.name
        digest = digest_of(claimed)
        now = datetime.now(timezone.utc)
        try:
            earlier = self._claim(digest, name, claimed.stat().st_size, now)
        except IntegrityError:  # the same content and name claimed at this very moment by another watcher
            earlier = {"state": "claimed", "settled_at": now}
        if earlier is not None:
            state = earlier["state"]
            if adopted and state in (DONE, REJECTED):
                return self._settle_move(claimed, state, None, Outcome(name, state))
            reason = t("watch.duplicate", self.lang, at=earlier["settled_at"].isoformat(timespec="seconds") if earlier["settled_at"] else "-")
            return self._settle_move(claimed, REJECTED, [reason], Outcome(name, REJECTED, duplicate=True))
        rejects = self.own / f"{name}.rejects.csv"
        try:
            report = run_import(self.node, claimed, fmt=self.fmt, mapping_path=self.mapping_path, rejects_path=rejects, lang=self.lang, principal=self.principal)
        except ValidationFailed as exc:  # the file as a whole (unknown format, bad mapping)
            reasons = [f"{i.pointer or '/'}: {i.message(self.lang)}" for i in exc.issues]
            self._record(digest, name, REJECTED, 0, 0, " ; ".join(reasons))
            return self._settle_move(claimed, REJECTED, reasons, Outcome(name, REJECTED))
        accepted = report.accepted + report.already_stored
        state = REJECTED if report.rejected else DONE
        reasons = self._reasons(report.accepted, report.already_stored, report.rejected, rejects) if report.rejected else None
        self._record(digest, name, state, accepted, report.rejected, None)
        rejects.unlink(missing_ok=True)
        return self._settle_move(claimed, state, reasons, Outcome(name, state, report.accepted, report.rejected, report.already_stored))

    def _claim(self, digest: str, name: str, size: int, now: datetime) -> dict[str, Any] | None:
        """The ledger row of this content and name when it was settled before; else None, and the
        row is this watcher's (a fresh one, or one a stopped watcher left claimed)."""
        with write(self.node.engine) as conn:
            row = conn.execute(select(watched_files).where(watched_files.c.digest == digest, watched_files.c.name == name)).mappings().first()
            if row is None:
                conn.execute(
                    insert(watched_files).values(
                        digest=digest, name=name, folder=str(self.folder)[:1024], size=size, state="claimed", claimed_by=self.id, claimed_at=now
                    )
                )
                return None
            if row["state"] == "claimed":
                conn.execute(update(watched_files).where(watched_files.c.id == row["id"]).values(claimed_by=self.id, claimed_at=now))
                return None
            return dict(row)

    def _record(self, digest: str, name: str, state: str, accepted: int, rejected: int, detail: str | None) -> None:
        with write(self.node.engine) as conn:
            conn.execute(
                update(watched_files)
                .where(watched_files.c.digest == digest, watched_files.c.name == name)
                .values(state=state, accepted=accepted, rejected=rejected, detail=detail, settled_at=datetime.now(timezone.utc))
            )

    def _reasons(self, accepted: int, already: int, rejected: int, rejects: Path) -> list[str]:
        lines = [t("watch.errors.summary", self.lang, accepted=accepted, already=already, rejected=rejected)]
        if rejects.exists():
            with rejects.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    lines.append(t("watch.errors.line", self.lang, line=row["line"], lrn=row["lrn"] or "-", pointer=row["pointer"] or "/", reason=row["reason"]))
        return lines

    def _settle_move(self, claimed: Path, state: str, reasons: list[str] | None, outcome: Outcome) -> Outcome:
        """Write the reasons beside the file's new place, then move it there (last: a watcher
        stopped before the move leaves the file to be adopted, and the ledger says it is settled)."""
        target_folder = self.folder / state
        target = free_name(target_folder, claimed.name)
        if reasons is not None:
            (target_folder / f"{target.name}.errors.txt").write_text("\n".join(reasons) + "\n", encoding="utf-8")
        os.replace(claimed, target)
        return Outcome(outcome.name, state, outcome.accepted, outcome.rejected, outcome.already, outcome.duplicate, target)

    def _retry(self, claimed: Path) -> None:
        try:
            os.rename(claimed, free_name(self.folder, claimed.name))
        except OSError:  # stays in this watcher's folder: adopted later
            pass

    # --- watchers that stopped -------------------------------------------------------------------

    def recover(self) -> list[Outcome]:
        """Adopt the files of the ``.processing-*`` folders of watchers that stopped: one of this
        host whose process is gone, or any whose folder was not touched for ``stale_after``."""
        outcomes = []
        for folder in sorted(self.folder.glob(f"{PROCESSING}*")):
            if folder == self.own or not folder.is_dir() or not self._stopped(folder):
                continue
            for leftover in sorted(folder.iterdir()):
                if leftover.name.endswith(".rejects.csv"):
                    leftover.unlink(missing_ok=True)
                    continue
                adopted = self.own / leftover.name
                try:
                    os.rename(leftover, adopted)
                except FileNotFoundError:  # another watcher adopted it first
                    continue
                try:
                    outcome = self.process(adopted, adopted=True)
                except Exception as exc:  # the database: left in this watcher's folder, adopted again later
                    log.error("%s: %s", leftover.name, exc)
                    self._retry(adopted)
                    continue
                outcomes.append(outcome)
                self.report(outcome)
            try:
                folder.rmdir()
            except OSError:
                pass
        return outcomes

    def _stopped(self, folder: Path) -> bool:
        owner = folder.name[len(PROCESSING) :].split("-")
        if len(owner) == 3 and owner[0] == self.host and owner[1].isdigit() and not _alive(int(owner[1])):
            return True
        try:
            return time.time() - folder.stat().st_mtime > self.stale_after
        except FileNotFoundError:
            return False
