"""Command-line group (scaffold: filled in by its owner)."""

from __future__ import annotations

import typer

from avance.clikit import H

valuation_app = typer.Typer(help=H("valuation"), no_args_is_help=True)
