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
from typing import Annotated, Any, Optional

import click
import typer
from sqlalchemy.engine import make_url

from avance.audit.cli import make_audit_app
from avance.audit.service import Keyring
from avance.auth.cli import operator, users_app
from avance.declarations.cli import debts_app, declarations_app
from avance.exchange.cli import exchange_app, partners_app
from avance.formats.cli import convert
from avance.imports.cli import watch
from avance.kit.cli import H, err, fail, fail_error, lang, number, open_store, out, settings_from, speak_framework_language
from avance.kit.errors import AvanceError
from avance.kit.settings import Settings
from avance.kit.i18n import t
from avance.manifests.cli import manifests_app
from avance.movements.cli import matching_app, transit_app
from avance.reference.rates import RateFileError
from avance.operations.cli import backup_app, restore
from avance.reports.cli import reports_app
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
app.add_typer(backup_app, name="backup")


def _audit_keyring(settings: Settings) -> Keyring:
    from avance.bootstrap import audit_keyring  # the node's modules load when a command runs (see above)

    return audit_keyring(settings)


app.add_typer(make_audit_app(_audit_keyring), name="audit")
app.command("restore", help=H("restore"))(restore)
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
    tls_certfile: Annotated[Optional[Path], typer.Option("--tls-certfile", exists=True, dir_okay=False, help=H("serve.tls_certfile"))] = None,
    tls_keyfile: Annotated[Optional[Path], typer.Option("--tls-keyfile", exists=True, dir_okay=False, help=H("serve.tls_keyfile"))] = None,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help=H("serve.worker"))] = True,
) -> None:
    """Serve the API (interactive docs at /docs). With ``--workers N`` the background work runs
    once, in this supervising process, not in each API process; ``--no-worker`` leaves it to an
    ``avance worker`` (docs/operations.md, "Several processes and machines")."""
    if (tls_certfile is None) != (tls_keyfile is None):
        fail(t("serve.tls_incomplete", lang()))
    tls = {"ssl_certfile": str(tls_certfile), "ssl_keyfile": str(tls_keyfile)} if tls_certfile and tls_keyfile else {}
    import uvicorn  # the web server and the node's modules load when a command runs (see above)

    from avance.bootstrap import Node  # loads when the command runs: start-up time
    from avance.entrypoints.http import create_app  # loads when the command runs: start-up time
    from avance.exchange.keys import check_private_keys  # loads when the command runs: start-up time

    store = open_store()  # fail early, with one line, if the node is not set up
    with store.engine.connect() as conn:  # and if its signing keys do not open (passphrase)
        check_private_keys(conn, store.settings.data_dir)
    node = Node(store.settings, store.engine, background=worker)
    if workers == 1:
        uvicorn.run(create_app(node), host=host, port=port, log_level="info", access_log=False, **tls)
        return
    from avance.exchange.worker import start  # loads when the command runs: start-up time

    stop = start(node)  # here, once: the API processes below run without it
    try:
        uvicorn.run("avance.entrypoints.cli:api_process", factory=True, host=host, port=port, workers=workers, log_level="info", access_log=False, **tls)
    finally:
        if stop is not None:
            stop()


def api_process() -> Any:
    """The ASGI application of one API process without the background work (the factory of
    ``avance serve --workers N``; for a process manager: ``uvicorn --factory
    avance.entrypoints.cli:api_process`` beside an ``avance worker``)."""
    from avance.bootstrap import open_node  # loads when the process starts: start-up time of the command line
    from avance.entrypoints.http import create_app  # as above
    from avance.kit.settings import get_settings  # beside them, read in the new process

    return create_app(open_node(get_settings(), background=False))


@app.command(help=H("worker"))
def worker() -> None:
    """Run the node's background work alone (exchange senders, held messages, sweeps, alerts),
    for API processes started with ``avance serve --no-worker``; stops on SIGTERM or Ctrl-C."""
    import signal
    import threading

    from avance.bootstrap import CHECK_SECONDS, Node  # the node's modules load when a command runs (see above)
    from avance.exchange.keys import check_private_keys  # loads when the command runs: start-up time
    from avance.exchange.worker import start  # loads when the command runs: start-up time

    store = open_store()
    with store.engine.connect() as conn:  # its signing keys must open (passphrase)
        check_private_keys(conn, store.settings.data_dir)
    node = Node(store.settings, store.engine)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    stop = start(node)
    err.print(t("processes.worker_running", lang(), pid=os.getpid()), markup=False)
    try:
        while not stopped.wait(CHECK_SECONDS):
            node.refresh()  # what API processes changed, for the jobs and held messages
    finally:
        if stop is not None:
            stop()
        err.print(t("processes.worker_stopped", lang()), markup=False)


@rates_app.command("load", help=H("rates.load"))
def rates_load(file: Annotated[Path, typer.Argument(help=H("rates.file"))]) -> None:
    """Load dated exchange rates (units of national currency per unit of foreign currency)."""
    from avance.bootstrap import load_rate_file  # the node's modules load when a command runs (see above)

    if not file.is_file():
        fail(t("cli.no_such_file", lang(), path=file))
    engine = open_store().engine
    try:
        count = load_rate_file(engine, file, operator())
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
    source: Annotated[Optional[str], typer.Option("--from", help=H("import.from"))] = None,
) -> None:
    """Validate, assess and store declarations from a file; every rejected row goes to a rejects file."""
    fmt = fmt or source  # --from: the message formats' name for it (json, wco-xml, edifact, asycuda)
    from avance.bootstrap import Node  # the node's modules load when a command runs (see above)
    from avance.imports.runner import run_import  # loads when the command runs: start-up time

    if not file.is_file():
        fail(t("cli.no_such_file", lang(), path=file))
    if mapping is not None and not mapping.is_file():
        fail(t("cli.no_such_file", lang(), path=mapping))
    store = open_store()
    node = Node(store.settings, store.engine)
    report = run_import(node, file, mapping_path=mapping, fmt=fmt, rejects_path=rejects, batch_size=batch_size, workers=workers, lang=lang(), console=err, selection=selection.value, principal=operator())
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
app.command("convert", help=H("convert"))(convert)
app.command("watch", help=H("watch"))(watch)
for name, group in (
    ("reports", reports_app),
    ("manifests", manifests_app),
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
    command = typer.main.get_command(program)
    speak_framework_language(command)
    try:
        code = command(standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # a group run alone: its help is already shown
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # a usage error: missing or malformed option
        command = f" ({exc.ctx.command_path} --help)" if getattr(exc, "ctx", None) is not None else ""
        err.print(t("cli.error", lang(), message=exc.format_message() + command), markup=False)
        sys.exit(exc.exit_code)
    except click.Abort:
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
