"""``avance selection``: the node's selection secret (the key of the random draw) and the auditor's
check of the draws recorded with each lane.

Neither command ever prints a secret: only its id.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from avance.auth.cli import operator
from avance.kit.cli import H, fail, lang, number, open_store, out, parse_date
from avance.kit.i18n import t
from avance.store.audit import record as audit_record
from avance.store.engine import write

LANES = ("green", "blue", "yellow", "red")

selection_app = typer.Typer(help=H("selection"), no_args_is_help=True)


@selection_app.command("rotate-secret", help=H("selection.rotate_secret"))
def rotate_secret() -> None:
    """Draw with a fresh secret from now on; the old ones stay, so past draws stay checkable."""
    from avance.risk.policy import service  # loads when the command runs: start-up time

    node = open_store()
    try:
        with write(node.engine) as conn:
            secret_id = service.rotate_secret(conn)
            audit_record(conn, operator(), "selection.secret_rotated", "selection_secret", secret_id)
            kept = [name for name in service.keyring(conn).keys if name != secret_id]
    finally:
        node.engine.dispose()
    out.print(t("selection.rotated", lang(), secret=secret_id, kept=", ".join(kept) or "-"), markup=False)


@selection_app.command("check-draws", help=H("selection.check_draws"))
def check_draws(
    since: Annotated[Optional[str], typer.Option("--from", help=H("selection.from"))] = None,
    until: Annotated[Optional[str], typer.Option("--to", help=H("selection.to"))] = None,
) -> None:
    """Recompute every recorded draw with its secret; list the lodgings that do not hold. Exit code
    1 when there is any, 0 when every draw checks."""
    from avance.risk.policy import service  # loads when the command runs: start-up time

    start, end = parse_date(since, "--from"), parse_date(until, "--to")
    if start is not None and end is not None and end < start:
        fail(t("selection.check.window", lang(), since=start.isoformat(), until=end.isoformat()))
    node = open_store()
    try:
        with node.engine.connect() as conn:
            audit = service.check_draws(conn, start=start, end=end)
    finally:
        node.engine.dispose()
    for problem in audit.problems:
        params = dict(problem.params)
        for name in ("lane", "expected"):  # lanes in the operator's language
            if params.get(name) in LANES:
                params[name] = t(f"policy.lane.{params[name]}", lang())
        what = t(problem.code, lang(), **params)
        out.print(t("selection.check.line", lang(), id=problem.declaration_id, declarant=problem.declarant, lrn=problem.lrn, problem=what), markup=False)
    out.print(
        t("selection.check.summary", lang(), checked=number(audit.checked), unrecorded=number(audit.unrecorded), problems=number(len(audit.problems))),
        markup=False,
    )
    if audit.problems:
        raise typer.Exit(1)
