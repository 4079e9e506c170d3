"""The ``avance`` program (``avance`` and ``python -m avance``): the command line of a node
(``avance.entrypoints.cli``) with the commands of the tools above it, the demo (``avance demo``,
``avance model demo-data``) and the multi-node harness (``avance exchange selftest``).

``python -m avance --batch`` is for programs that drive nodes (the multi-node harness): it reads
one JSON list of commands per line on standard input, runs them in this one process (one
interpreter start-up for many commands), and writes one JSON line per batch:
``[[exit code, stdout, stderr], ...]``, stopping a batch at its first failing command.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys

from avance.demo.cli import demo_command, demo_data_command
from avance.entrypoints.cli import app, run
from avance.exchange.cli import exchange_app
from avance.harness.cli import exchange_selftest
from avance.harness.nodes import BATCH_FLAG
from avance.kit.cli import H
from avance.risk.learning.cli import model_app

app.command("demo", help=H("demo"))(demo_command)
exchange_app.command("selftest", help=H("exchange.selftest"))(exchange_selftest)
model_app.command("demo-data", help=H("model.demo_data"))(demo_data_command)


def main() -> None:
    """The ``avance`` command: every error ends in one line and exit code 2."""
    run(app)


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
