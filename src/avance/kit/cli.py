"""What every ``avance`` sub-command shares: the operator's language, one-line errors, settings.

Sub-command modules (``avance.risk.*_cli``, ``avance.exchange.cli`` ...) import from here, never
from ``avance.entrypoints.cli``, so that importing them never imports the whole command line.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from avance.kit.errors import AvanceError, ConfigurationError, ValidationFailed
from avance.kit.i18n import t
from avance.kit.settings import Settings, get_settings
from avance.store.engine import make_engine
from avance.store.node_settings import read_country


def lang() -> str:
    return get_settings().lang if get_settings().lang in ("fr", "en") else "fr"


def H(key: str) -> str:
    """Help text of the command line, in the operator's language (AVANCE_LANG)."""
    return t(f"cli.help.{key}", lang())


# Piped to a file or a log, tables keep all their columns instead of the 80 of a missing terminal.
_COLUMNS = os.environ.get("COLUMNS", "")
out = Console(width=None if sys.stdout.isatty() else int(_COLUMNS) if _COLUMNS.isdigit() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Print one line on stderr and exit with code 2."""
    err.print(t("cli.error", lang(), message=" ".join(str(message).split())), markup=False)
    raise typer.Exit(2)


def fail_error(exc: AvanceError) -> NoReturn:
    if isinstance(exc, ValidationFailed):
        fail("; ".join(f"{i.pointer or '/'}: {i.message(lang())}" for i in exc.issues))
    fail(exc.message(lang()))


def settings_from(data_dir: Path | None = None, database_url: str | None = None) -> Settings:
    settings = get_settings()
    update = {}
    if data_dir is not None:
        update["data_dir"] = data_dir
    if database_url is not None:
        update["database_url"] = database_url
    return settings.model_copy(update=update) if update else settings




def headed_table(*columns: str, **options: Any) -> Table:
    """A Rich table whose headers come from the catalogs (``cli.col.<column>``), in the operator's language."""
    return Table(*(t(f"cli.col.{column}", lang()) for column in columns), **options)


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
