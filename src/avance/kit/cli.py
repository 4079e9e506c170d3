"""What every ``avance`` sub-command shares, so that they all behave alike for the operator.

- the operator's language (``AVANCE_LANG``: ``fr`` by default, or ``en``) and help texts in it;
- one-line errors on stderr with exit code 2 (``fail``, ``fail_error``), never a traceback;
- the node's database, opened only once ``avance init`` has set it up (``open_store``);
- who makes a change (``author``): ``--author`` or the operating-system user;
- dates typed as ``YYYY-MM-DD`` and numbers typed in the operator's language (``parse_date``,
  ``parse_amount``), with one error message each;
- numbers and money shown in the operator's language (``number``, ``percent``, ``money``,
  through Babel: ``avance.kit.formatting``).

Sub-command modules (``avance.risk.*.cli``, ``avance.exchange.cli`` ...) import from here, never
from ``avance.entrypoints.cli``, so that importing them never imports the whole command line.
"""

from __future__ import annotations

import getpass
import importlib
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import click
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from avance.kit import formatting
from avance.kit.errors import AvanceError, ConfigurationError, ValidationFailed
from avance.kit.i18n import DEFAULT_LANGUAGE, LANGUAGES, catalog, t
from avance.kit.settings import Settings, get_settings
from avance.store.engine import make_engine
from avance.store.node_settings import read_country

# --- language and help ---------------------------------------------------------------------------


def language(tag: str | None) -> str | None:
    """``fr`` or ``en`` from a language tag such as ``fr``, ``EN``, ``en-GB``, ``fr_SN.UTF-8``; else None."""
    if not tag:
        return None
    primary = tag.strip().replace("-", "_").split("_")[0].split(".")[0].lower()
    return primary if primary in LANGUAGES else None


_CHOSEN: ContextVar[str | None] = ContextVar("avance_cli_language", default=None)


def lang() -> str:
    """The operator's language: a command's ``--lang`` when it has one (``avance duty``), else
    ``AVANCE_LANG`` (a tag such as ``en_GB.UTF-8`` will do), French by default."""
    chosen = _CHOSEN.get()
    if chosen:
        return chosen
    try:
        configured = get_settings().lang
    except ValidationError:  # a bad AVANCE_* value: the command that reads it says so, in one line
        configured = os.environ.get("AVANCE_LANG")
    return language(configured) or DEFAULT_LANGUAGE


@contextmanager
def language_chosen(tag: str | None) -> Iterator[None]:
    """Within the block, ``lang()`` is ``tag``'s language (a command's ``--lang``); an unsupported
    tag is one line and exit code 2."""
    if tag is None:
        yield
        return
    chosen = language(tag)
    if chosen is None:
        fail(t("revenue.duty.error.bad_lang", lang(), lang=tag))
    token = _CHOSEN.set(chosen)
    speak_framework_language()
    try:
        yield
    finally:
        _CHOSEN.reset(token)
        speak_framework_language()


def H(key: str) -> str:
    """Help text of the command line, in the operator's language (AVANCE_LANG)."""
    return t(f"cli.help.{key}", lang())


# --- the framework's own words ---------------------------------------------------------------------
# Click and Typer write their texts ("Usage:", "Show this message and exit.", "[required]", usage
# errors) through ``gettext``; the command line gives them the catalogs' words instead, by their
# English source text (``click:<text>`` keys, part ``cli-framework.yaml``).

_CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "types", "termui")
_FRAMEWORK_MODULES = (
    *(f"click.{m}" for m in _CLICK_MODULES),
    "typer.core",
    "typer.main",
    "typer.rich_utils",
    "typer._param_types",
)
_RICH_CONSTANTS = {
    "DEPRECATED_STRING": "(deprecated) ",
    "DEFAULT_STRING": "[default: {}]",
    "ENVVAR_STRING": "[env var: {}]",
    "REQUIRED_LONG_STRING": "[required]",
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commands",
    "ERRORS_PANEL_TITLE": "Error",
    "ABORTED_TEXT": "Aborted.",
    "RICH_HELP": "Try [blue]'{command_path} {help_option}'[/] for help.",
}


def framework_text(message: str) -> str:
    """A Click or Typer text in the operator's language (the text itself when the catalogs lack it)."""
    return t_or(f"click:{message}", message)


def _framework_plural(singular: str, plural: str, n: int) -> str:
    return framework_text(singular if n == 1 else plural)


def t_or(key: str, fallback: str) -> str:
    """Message ``key`` in the operator's language, or ``fallback`` when the catalog lacks it."""
    return catalog(lang()).get(key, fallback)


_TYPE_NAMES = {
    "StringParamType": "text",
    "IntParamType": "integer",
    "FloatParamType": "float",
    "UUIDParameterType": "uuid",
    "DateTime": "datetime",
    "Path": "path",
    "File": "filename",
    "IntRange": "integer range",
    "FloatRange": "float range",
}
"""Click's names of value types, shown as metavars (``TEXT``) and in errors (``not a valid integer``)."""


def speak_framework_language(command: click.Command | None = None) -> None:
    """Make Click and Typer write their texts in the operator's language (called as the command
    line starts, and again when a command's ``--lang`` changes it); with ``command``, also the
    placeholders of its usage lines (``[OPTIONS]``, ``COMMAND [ARGS]...``, an argument's name)."""
    for type_name, source in _TYPE_NAMES.items():
        kind = getattr(click.types, type_name, None)
        if kind is not None:
            kind.name = framework_text(source)
    if command is not None:
        _translate_usage(command)
    for name in _FRAMEWORK_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # another Typer or Click release, laid out differently
            continue
        if hasattr(module, "_"):
            module._ = framework_text  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = _framework_plural  # type: ignore[attr-defined]
    rich_utils = importlib.import_module("typer.rich_utils")
    for constant, source in _RICH_CONSTANTS.items():
        setattr(rich_utils, constant, framework_text(source))


def _translate_usage(command: click.Command) -> None:
    if command.options_metavar:
        command.options_metavar = framework_text("[OPTIONS]")
    for param in command.params:
        if isinstance(param, click.Argument) and param.name:
            param.metavar = framework_text(param.metavar or param.name.upper())
        elif param.metavar:
            param.metavar = framework_text(param.metavar)
    if isinstance(command, click.Group):
        command.subcommand_metavar = framework_text("COMMAND [ARGS]...")
        for sub in command.commands.values():
            _translate_usage(sub)


# --- output and errors ---------------------------------------------------------------------------

# Piped to a file or a log, tables keep all their columns instead of the 80 of a missing terminal.
_COLUMNS = os.environ.get("COLUMNS", "")
out = Console(width=None if sys.stdout.isatty() else int(_COLUMNS) if _COLUMNS.isdigit() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Print one line on stderr (``erreur : …`` / ``error: …``) and exit with code 2."""
    err.print(t("cli.error", lang(), message=" ".join(str(message).split())), markup=False)
    raise typer.Exit(2)


def fail_error(exc: AvanceError) -> NoReturn:
    """``fail`` with a typed error's message; a validation error's problems on the same line."""
    if isinstance(exc, ValidationFailed):
        fail("; ".join(f"{i.pointer or '/'}: {i.message(lang())}" for i in exc.issues))
    fail(exc.message(lang()))


def print_json(value: Any) -> None:
    """One JSON value on a line of standard output (``--json``: JSON Lines, one view a line)."""
    print(json.dumps(value, ensure_ascii=False, default=str))


def print_views(views: list[Any], *, as_json: bool, none: str) -> bool:
    """What every listing command does first: JSON Lines with ``--json``, or the catalog line
    ``none`` when there is nothing to list. True when that said it all; the caller prints its
    table otherwise."""
    if as_json:
        for view in views:
            print_json(view)
        return True
    if not views:
        out.print(t(none, lang()), markup=False)
        return True
    return False


def headed_table(*columns: str, **options: Any) -> Table:
    """A Rich table whose headers come from the catalogs (``cli.col.<column>``), in the operator's language."""
    return Table(*(t(f"cli.col.{column}", lang()) for column in columns), **options)


# --- numbers, dates and the author, as the operator types and reads them ------------------------


def number(value: Decimal | int | float, digits: int | None = None) -> str:
    """``value`` with thousands grouped, in the operator's language (``avance.kit.formatting.number``)."""
    return formatting.number(value, lang(), digits)


def percent(share: Decimal | int | float, digits: int = 1) -> str:
    """A share (``0.123``) as a percentage in the operator's language: ``12,3 %`` / ``12.3%``."""
    return formatting.percent(share, lang(), digits)


def money(amount: Decimal, currency: str) -> str:
    """An amount with its currency's minor units, in the operator's language (no symbol)."""
    return formatting.money(amount, currency, lang())


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: str | None, option: str) -> date | None:
    """The day an operator typed for ``option`` (``YYYY-MM-DD``), None when not given; else one
    line and exit code 2."""
    if value is None:
        return None
    text = value.strip()
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:  # 2026-02-30
            pass
    fail(t("cli.bad_date", lang(), option=option, value=value))


def parse_amount(value: str | None, option: str) -> Decimal | None:
    """The exact number an operator typed for ``option``, in their language (``10000000,50`` in
    French, ``10000000.50`` in English or in either); None when not given; else one line and
    exit code 2."""
    if value is None:
        return None
    try:
        return formatting.parse_number(value, lang())
    except ValueError:
        fail(t("cli.bad_number", lang(), option=option, value=value))


AuthorOption = Annotated[Optional[str], typer.Option("--author", help=H("author"))]
"""``--author``: who makes a change, for the commands that record one."""

AUTHOR_MAX = 70


def author(name: str | None = None) -> str:
    """Who makes a change from the command line: ``--author`` when given, else the
    operating-system user (``cli`` when there is none, as in a bare container)."""
    if name is None:
        try:
            name = getpass.getuser()
        except (OSError, KeyError):  # no login name, as in a bare container
            name = "cli"
    name = name.strip()
    if not 1 <= len(name) <= AUTHOR_MAX:
        fail(t("cli.bad_author", lang(), author=name, maximum=AUTHOR_MAX))
    return name


# --- the node's database -------------------------------------------------------------------------


def settings_from(data_dir: Path | None = None, database_url: str | None = None) -> Settings:
    """The node's settings (``AVANCE_*``), with the data directory or database URL replaced when given."""
    settings = get_settings()
    update: dict[str, Any] = {}
    if data_dir is not None:
        update["data_dir"] = data_dir
    if database_url is not None:
        update["database_url"] = database_url
    return settings.model_copy(update=update) if update else settings


@dataclass(frozen=True)
class Store:
    """An initialised node's database, as a command opens it."""

    settings: Settings
    engine: Engine
    country: str


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def open_store(settings: Settings | None = None) -> Store:
    """The node's database, once ``avance init`` has set it up; a clear error otherwise.

    A SQLite file that does not exist is not created: a command never leaves behind an empty
    database it did not initialise.
    """
    settings = settings or settings_from()
    url = settings.resolved_database_url()
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise ConfigurationError("config.not_initialised")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            country = read_country(conn)
    except SQLAlchemyError:  # no schema yet
        country = None
    if country is None:
        engine.dispose()
        raise ConfigurationError("config.not_initialised")
    return Store(settings, engine, country)
