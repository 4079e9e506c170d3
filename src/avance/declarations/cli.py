"""``avance debts`` and ``avance declarations check-times``: what importers owe after
post-clearance audits, and the stored event times that cannot be.

The command line acts as the node's administrator. Tables show amounts in the operator's
language; ``--json`` prints one JSON object per line with plain decimal strings, for scripts.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import Enum
from typing import Annotated, Optional

import typer

from avance.auth.model import SYSTEM
from avance.declarations.lifecycle import TimeRules
from avance.declarations.views import debt_view
from avance.kit.cli import H, headed_table, lang, money, open_store, out, print_json, print_views
from avance.kit.i18n import t

debts_app = typer.Typer(help=H("debts"), invoke_without_command=True)
declarations_app = typer.Typer(help=H("declarations"), no_args_is_help=True)


class DebtStatus(str, Enum):
    open = "open"
    settled = "settled"


@debts_app.callback()
def debts(
    importer: Annotated[Optional[str], typer.Option("--importer", help=H("debts.importer"))] = None,
    office: Annotated[Optional[str], typer.Option("--office", help=H("debts.office"))] = None,
    status: Annotated[Optional[DebtStatus], typer.Option("--status", help=H("debts.status"))] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help=H("debts.limit"))] = 50,
    as_json: Annotated[bool, typer.Option("--json", help=H("debts.json"))] = False,
) -> None:
    from avance.declarations import service  # loads when the command runs: start-up time

    store = open_store()
    language = lang()
    filters = service.DebtFilters(importer, office, status.value if status else None)
    with store.engine.connect() as conn:
        found, total = service.search_debts(conn, SYSTEM, filters, page=1, page_size=limit)
    views = [debt_view(row, debt, language) for row, debt in found]
    if print_views(views, as_json=as_json, none="debts.none"):
        return
    table = headed_table("id", "declaration", "importer", "office", "amount", "paid", "outstanding", "status", "assessed_at", "assessed_by")
    for v in views:
        currency = v["currency"]
        table.add_row(
            str(v["id"]),
            f"{v['declaration_id']} {v['lrn']}",
            f"{v['importer_id']} {v['importer_name']}",
            v["office_code"],
            f"{money(Decimal(v['amount']), currency)} {currency}",
            f"{money(Decimal(v['paid']), currency)} {currency}",
            f"{money(Decimal(v['outstanding']), currency)} {currency}",
            v["status_label"],
            v["assessed_at"][:16].replace("T", " "),
            v["assessed_by"] or "",
        )
    out.print(table)
    out.print(t("debts.shown", language, shown=len(views), total=total), markup=False)


@declarations_app.command("check-times", help=H("declarations.check_times"))
def check_times(as_json: Annotated[bool, typer.Option("--json", help=H("declarations.json"))] = False) -> None:
    from avance.declarations import service  # loads when the command runs: start-up time

    store = open_store()
    language = lang()
    rules = TimeRules(clock_skew=timedelta(seconds=store.settings.clock_skew_seconds), arrival_past_days=store.settings.arrival_past_days)
    with store.engine.connect() as conn:
        problems = list(service.stored_time_problems(conn, rules=rules))
    if as_json:
        for p in problems:
            print_json(
                {"declaration_id": p.declaration_id, "lrn": p.lrn, "event_id": p.event.id, "kind": p.event.kind.value, "at": p.event.at.isoformat(), "code": p.issue.code, "detail": p.issue.message(language)}
            )
    elif not problems:
        out.print(t("times.none", language), markup=False)
    else:
        table = headed_table("declaration", "event", "at", "problem")
        for p in problems:
            table.add_row(f"{p.declaration_id} {p.lrn}", t(f"status.{p.event.kind.value}", language), p.event.at.isoformat(timespec="seconds"), p.issue.message(language))
        out.print(table)
        out.print(t("times.found", language, count=len(problems)), markup=False)
    if problems:
        raise typer.Exit(1)
