"""Command-line group (scaffold: filled in by its owner)."""

from __future__ import annotations

import typer

from avance.clikit import H

model_app = typer.Typer(help=H("model"), no_args_is_help=True)


def _register_evaluation() -> None:
    from avance.risk.evaluation_cli import register

    register(model_app)


_register_evaluation()
