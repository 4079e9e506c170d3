"""`avance exchange selftest` proves a link end to end on one machine, and never leaves processes behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    env.update(AVANCE_DATA_DIR=str(tmp_path / "unused"), AVANCE_LANG="en")
    return env


def processes_in(folder: Path) -> list[int]:
    """Processes whose working folder is inside ``folder`` (the nodes run in their data folders)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(Path(os.readlink(entry / "cwd"))).startswith(str(folder)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_selftest_with_a_crashed_node_reports_nothing_lost_nothing_duplicated_and_every_attack_refused(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "avance", "exchange", "selftest", "--nodes", "3", "--messages", "60", "--kill", "--inject", "2", "--keep"],
        capture_output=True, text=True, env=environment(tmp_path), timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert (summary["sent"], summary["applied"], summary["lost"], summary["duplicates"]) == (60, 60, 0, 0)
    assert (summary["rejected_tampered"], summary["rejected_replayed"], summary["rejected_unknown"]) == (2, 2, 2)
    assert summary["killed"] == "GH-AVANCE" and summary["seconds"] > 0 and summary["messages_per_second"] > 0
    kept = Path(re.search(r"nodes kept in (\S+)", result.stderr).group(1))
    try:
        assert sorted(p.name for p in kept.iterdir()) == ["node-ci", "node-gh", "node-ml"]
        assert processes_in(kept) == []
    finally:
        shutil.rmtree(kept, ignore_errors=True)


def test_an_interrupted_selftest_stops_its_nodes_and_says_so_in_one_line(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "avance", "exchange", "selftest", "--nodes", "2", "--messages", "100000", "--keep"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(tmp_path),
    )
    folder = None
    lines = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        match = re.search(r"starting 2 nodes in (\S+)", line)
        folder = Path(match.group(1)) if match else folder
        if "sending" in line:
            break
    assert folder is not None, "".join(lines)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    try:
        assert process.returncode == 130
        assert "interrupted" in rest and "Traceback" not in rest
        assert processes_in(folder) == []
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_selftest_refuses_impossible_settings_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "avance", "exchange", "selftest", "--nodes", "9"], capture_output=True, text=True, env=environment(tmp_path), timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
