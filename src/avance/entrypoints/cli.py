"""The ``avance`` command's root: its own commands (init, serve, users, rates, import) and the
groups each capability contributes. The tools above it (the demo, the multi-node harness) add
their commands in ``avance.__main__``, the program.

Errors end in one line on stderr and exit code 2, never a traceback. The node's modules are
imported when a command runs, not when the command line starts: ``avance --help`` and the
commands that need no node stay quick (the learned model, the web server and the data libraries
take about a second to import).
"""

from __future__ import annotations

import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from sqlalchemy.engine import make_url

from avance.auth.cli import users_app
from avance.declarations.cli import debts_app, declarations_app
from avance.exchange.cli import exchange_app, partners_app
from avance.kit.cli import H, err, fail, fail_error, lang, number, open_store, out, settings_from
from avance.kit.errors import AvanceError
from avance.kit.i18n import t
from avance.movements.cli import matching_app, transit_app
from avance.reference.rates import RateFileError
from avance.revenue.cli import duty
from avance.revenue.profiles import load_profile
from avance.risk.learning.cli import model_app
from avance.risk.policy.cli import selection_app
from avance.risk.profiles.cli import profiles_app
from avance.risk.valuation.cli import valuation_app
from avance.store.engine import make_engine

app = typer.Typer(
    name="avance",
    help=H("app"),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
rates_app = typer.Typer(help=H("rates"), no_args_is_help=True)
import_app = typer.Typer(help=H("import"), no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(rates_app, name="rates")
app.add_typer(import_app, name="import")


class Selection(str, Enum):
    STREAM = "stream"
    BATCH = "batch"


@app.command(help=H("init"))
def init(
    country: Annotated[Optional[str], typer.Option("--country", help=H("init.country"))] = None,
) -> None:
    """Create or upgrade the database and record the administration this node serves."""
    from avance.bootstrap import init_node  # the node's modules load when a command runs (see above)

    settings = settings_from()
    country = country or settings.country
    if not country:
        fail(t("config.not_initialised", lang()))
    url = settings.resolved_database_url()
    init_node(make_engine(url), country, settings.rules_file)
    out.print(t("cli.initialised", lang(), country=country.upper(), currency=load_profile(country.upper()).currency, url=_safe_url(url)))


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@app.command(help=H("serve"))
def serve(
    host: Annotated[str, typer.Option(help=H("serve.host"))] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help=H("serve.workers"))] = 1,
) -> None:
    """Serve the API (interactive docs at /docs)."""
    import uvicorn  # the web server and the node's modules load when a command runs (see above)

    from avance.bootstrap import Node  # loads when the command runs: start-up time
    from avance.entrypoints.http import create_app  # loads when the command runs: start-up time

    store = open_store()  # fail early, with one line, if the node is not set up
    node = Node(store.settings, store.engine)
    if workers == 1:
        uvicorn.run(create_app(node), host=host, port=port, log_level="info", access_log=False)
    else:
        uvicorn.run("avance.entrypoints.asgi:app", host=host, port=port, workers=workers, log_level="info", access_log=False)


@rates_app.command("load", help=H("rates.load"))
def rates_load(file: Annotated[Path, typer.Argument(help=H("rates.file"))]) -> None:
    """Load dated exchange rates (units of national currency per unit of foreign currency)."""
    from avance.bootstrap import load_rate_file  # the node's modules load when a command runs (see above)

    if not file.is_file():
        fail(t("cli.no_such_file", lang(), path=file))
    engine = open_store().engine
    try:
        count = load_rate_file(engine, file)
    except RateFileError as exc:
        fail(t("cli.line_error", lang(), row=exc.row, message=t(exc.code, lang(), **exc.params)))
    out.print(t("cli.rates_loaded", lang(), count=count))


@import_app.command("declarations", help=H("import.declarations"))
def import_declarations(
    file: Annotated[Path, typer.Argument(help=H("import.file"))],
    mapping: Annotated[Optional[Path], typer.Option("--mapping", help=H("import.mapping"))] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help=H("import.format"))] = None,
    rejects: Annotated[Optional[Path], typer.Option("--rejects", help=H("import.rejects"))] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help=H("import.batch_size"))] = 1000,
    workers: Annotated[Optional[int], typer.Option(min=1, max=64, help=H("import.workers"))] = None,
    selection: Annotated[Selection, typer.Option("--selection", help=H("import.selection"))] = Selection.STREAM,
) -> None:
    """Validate, assess and store declarations from a file; every rejected row goes to a rejects file."""
    from avance.bootstrap import Node  # the node's modules load when a command runs (see above)
    from avance.imports.runner import run_import  # loads when the command runs: start-up time

    if not file.is_file():
        fail(t("cli.no_such_file", lang(), path=file))
    if mapping is not None and not mapping.is_file():
        fail(t("cli.no_such_file", lang(), path=mapping))
    store = open_store()
    node = Node(store.settings, store.engine)
    report = run_import(node, file, mapping_path=mapping, fmt=fmt, rejects_path=rejects, batch_size=batch_size, workers=workers, lang=lang(), console=err, selection=selection.value)
    out.print(
        t(
            "import.done",
            lang(),
            accepted=number(report.accepted),
            rejected=number(report.rejected),
            seconds=number(report.seconds, 1),
            rate=number(report.rate, 0),
        )
    )
    if report.already_stored:
        out.print(t("import.already_stored", lang(), count=number(report.already_stored)))
    if report.rejected:
        out.print(t("import.rejects_written", lang(), path=report.rejects_path))


app.command("duty", help=H("duty"))(duty)
for name, group in (
    ("model", model_app),
    ("profiles", profiles_app),
    ("valuation", valuation_app),
    ("selection", selection_app),
    ("exchange", exchange_app),
    ("partners", partners_app),
    ("transit", transit_app),
    ("matching", matching_app),
    ("declarations", declarations_app),
    ("debts", debts_app),
):
    app.add_typer(group, name=name)


def run(program: typer.Typer) -> None:
    """Run ``program`` (the ``avance`` command, assembled in ``avance.__main__``) and turn every
    error into one line and exit code 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = program(standalone_mode=False)
    except typer.TyperException as exc:  # a usage error: missing or malformed option
        command = f" ({exc.ctx.command_path} --help)" if getattr(exc, "ctx", None) is not None else ""
        err.print(t("cli.error", lang(), message=exc.format_message() + command), markup=False)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except AvanceError as exc:
        try:
            fail_error(exc)
        except typer.Exit as exit_:
            sys.exit(exit_.exit_code)
    except Exception as exc:  # a broken file or an unreachable database: one line, no traceback
        if os.environ.get("AVANCE_DEBUG"):
            raise
        detail = " ".join(str(exc).split()) or type(exc).__name__
        err.print(t("cli.error", lang(), message=f"{type(exc).__name__}: {detail[:500]}"), markup=False)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
