"""What every ``avance`` sub-command shares: the operator's language, one-line errors, settings.

Sub-command modules (``avance.risk.*_cli``, ``avance.exchange.cli`` ...) import from here, never
from ``avance.entrypoints.cli``, so that importing them never imports the whole command line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from avance.kit.settings import Settings, get_settings
from avance.kit.errors import AvanceError, ValidationFailed
from avance.kit.i18n import t


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
