"""Command-line group (scaffold: filled in by its owner)."""

from __future__ import annotations

import typer

from avance.clikit import H

transit_app = typer.Typer(help=H("transit"), no_args_is_help=True)
matching_app = typer.Typer(help=H("matching"), no_args_is_help=True)
