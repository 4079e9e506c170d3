"""``python -m avance``: the ``avance`` command.

``python -m avance --batch`` is for programs that drive nodes (the multi-node harness of
``avance.harness``): it reads one JSON list of commands per line on standard input, runs them in this
one process (one interpreter start-up for many commands), and writes one JSON line per batch:
``[[exit code, stdout, stderr], ...]``, stopping a batch at its first failing command.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys

from avance.entrypoints.cli import main

BATCH_FLAG = "--batch"


def run_batch(commands: list[list[str]]) -> list[tuple[int, str, str]]:
    """Run ``avance`` commands one after the other; (code, stdout, stderr) of each until one fails."""
    outcomes = []
    for args in commands:
        out, err = io.StringIO(), io.StringIO()
        argv = sys.argv
        sys.argv = ["avance", *args]
        code = 0
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main()
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
        finally:
            sys.argv = argv
        outcomes.append((code, out.getvalue(), err.getvalue()))
        if code != 0:
            break
    return outcomes


def batches() -> None:
    real_stdout = sys.stdout
    for line in sys.stdin:
        if line.strip():
            real_stdout.write(json.dumps(run_batch(json.loads(line))) + "\n")
            real_stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:] == [BATCH_FLAG]:
        batches()
    else:
        main()
