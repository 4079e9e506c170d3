"""Command-line group (scaffold: filled in by its owner)."""

from __future__ import annotations

import typer

from avance.clikit import H

exchange_app = typer.Typer(help=H("exchange"), no_args_is_help=True)
partners_app = typer.Typer(help=H("partners"), no_args_is_help=True)
