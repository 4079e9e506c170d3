"""``avance watch DIR``: a legacy system drops its exports in a folder (often a network share); the
node imports each file once it is complete, files it in done/ or rejected/ with its reasons, never
loses one nor imports one twice (restarts included), and two watchers on one folder share the work."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from avance.declarations.tables import declarations
from avance.formats import registry
from avance.formats.documents import Document
from avance.imports.watch import PROCESSING, Watcher
from avance.manifests.tables import manifests
from avance.store.files import watched_files
from tests.support import declaration, manifest


def count(node, table) -> int:
    with node.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def edifact(*lrns: str) -> bytes:
    return registry.write([Document("declaration", declaration(lrn)) for lrn in lrns], "edifact")


def watcher(node, folder: Path, **options) -> Watcher:
    return Watcher(node, folder, interval=options.pop("interval", 0.05), lang="en", **options)


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def test_a_complete_file_is_imported_and_filed_in_done(sqlite_node, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "cusdec-1.edi").write_bytes(edifact("2026-DKR-W0001", "2026-DKR-W0002"))
    (drop / "cuscar-1.edi").write_bytes(registry.write([Document("cargo_report", manifest("MAN-W-0001"))], "edifact"))
    outcomes = watcher(sqlite_node, drop).run(once=True)
    assert sorted((o.name, o.state, o.accepted) for o in outcomes) == [("cuscar-1.edi", "done", 1), ("cusdec-1.edi", "done", 2)]
    assert files(drop / "done") == ["cuscar-1.edi", "cusdec-1.edi"] and files(drop) == []
    assert (count(sqlite_node, declarations), count(sqlite_node, manifests)) == (2, 1)
    assert not list(drop.glob(f"{PROCESSING}*")), "a watcher leaves no processing folder behind"


def test_a_bad_file_goes_to_rejected_with_its_reasons(sqlite_node, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    bad = declaration("2026-DKR-WBAD")
    bad["goods_items"][0]["hs_code"] = "0000000000"
    (drop / "mixed.edi").write_bytes(registry.write([Document("declaration", declaration("2026-DKR-WOK")), Document("declaration", bad)], "edifact"))
    (drop / "truncated.edi").write_bytes(edifact("2026-DKR-WTRUNC")[:-20])
    watcher(sqlite_node, drop).run(once=True)
    assert files(drop / "rejected") == ["mixed.edi", "mixed.edi.errors.txt", "truncated.edi", "truncated.edi.errors.txt"]
    mixed = (drop / "rejected" / "mixed.edi.errors.txt").read_text(encoding="utf-8")
    assert "1 document(s) stored" in mixed and "2026-DKR-WBAD" in mixed and "/goods_items/0/hs_code" in mixed
    assert "truncated" in (drop / "rejected" / "truncated.edi.errors.txt").read_text(encoding="utf-8").lower()
    assert count(sqlite_node, declarations) == 1  # the good declaration of mixed.edi, nothing of the truncated file


def test_temporary_names_and_files_still_growing_are_left_alone(sqlite_node, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    for name in ("upload.edi.part", "upload.tmp", ".hidden.edi"):
        (drop / name).write_bytes(edifact("2026-DKR-WTMP"))
    growing = drop / "growing.edi"
    growing.write_bytes(b"UNA:+.? '\n")
    w = watcher(sqlite_node, drop, interval=0.3)
    stop = threading.Event()

    def keep_writing() -> None:
        while not stop.is_set():
            with growing.open("ab") as handle:
                handle.write(b"UNB+UNOC:3+A+B+260101:1200+1'\n")
            time.sleep(0.05)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        outcomes = w.run(once=True)
    finally:
        stop.set()
        writer.join()
    assert outcomes == []
    assert files(drop) == [".hidden.edi", "growing.edi", "upload.edi.part", "upload.tmp"]
    assert count(sqlite_node, declarations) == 0


def test_the_same_file_dropped_again_is_not_imported_twice(sqlite_node, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    content = edifact("2026-DKR-WDUP")
    (drop / "daily.edi").write_bytes(content)
    watcher(sqlite_node, drop).run(once=True)
    (drop / "daily.edi").write_bytes(content)  # the legacy system sends it again
    outcomes = watcher(sqlite_node, drop).run(once=True)  # a restarted watcher
    assert [(o.state, o.duplicate) for o in outcomes] == [("rejected", True)]
    assert files(drop / "done") == ["daily.edi"]
    assert "already imported" in (drop / "rejected" / "daily.edi.errors.txt").read_text(encoding="utf-8")
    assert count(sqlite_node, declarations) == 1
    with sqlite_node.engine.connect() as conn:
        assert conn.execute(select(watched_files.c.state, watched_files.c.accepted)).all() == [("done", 1)]


def test_files_left_by_a_watcher_that_stopped_are_finished_by_the_next(sqlite_node, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    stopped = drop / f"{PROCESSING}otherhost-4242-deadbeef"  # a watcher on another machine that died
    stopped.mkdir()
    (stopped / "claimed.edi").write_bytes(edifact("2026-DKR-WREC"))
    old = time.time() - 3600
    os.utime(stopped, (old, old))
    outcomes = watcher(sqlite_node, drop).run(once=True)
    assert [(o.name, o.state) for o in outcomes] == [("claimed.edi", "done")]
    assert files(drop / "done") == ["claimed.edi"] and not stopped.exists()
    assert count(sqlite_node, declarations) == 1


def test_a_live_watchers_files_are_not_taken(sqlite_node, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    busy = drop / f"{PROCESSING}otherhost-4242-cafe0000"  # touched recently: its watcher is at work
    busy.mkdir()
    (busy / "working.edi").write_bytes(edifact("2026-DKR-WBUSY"))
    assert watcher(sqlite_node, drop).run(once=True) == []
    assert files(busy) == ["working.edi"]


def test_two_watcher_processes_on_one_folder_import_each_file_once(sqlite_node, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    names = [f"batch-{i:02d}.edi" for i in range(12)]
    for i, name in enumerate(names):
        (drop / name).write_bytes(edifact(f"2026-DKR-W2P{i:02d}"))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    environment.update(AVANCE_DATA_DIR=str(tmp_path), AVANCE_LANG="en")
    command = [sys.executable, "-m", "avance", "watch", str(drop), "--once", "--interval", "1"]
    watchers = [subprocess.Popen(command, env=environment, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [w.communicate(timeout=240) for w in watchers]
    assert [w.returncode for w in watchers] == [0, 0], results
    reported = [line for out, _ in results for line in out.splitlines() if "→" in line]
    assert sorted(line.split(":")[0] for line in reported) == names  # each file reported by one watcher only
    assert files(drop / "done") == names and files(drop) == []
    assert count(sqlite_node, declarations) == len(names)
    with sqlite_node.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(watched_files).where(watched_files.c.state == "done")).scalar_one() == len(names)
