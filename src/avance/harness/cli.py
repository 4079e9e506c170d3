"""``avance exchange selftest``: three real nodes, N signed messages, a killed partner (registered
in the ``exchange`` group by ``avance.__main__``)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from avance.kit.cli import H, err, lang
from avance.kit.i18n import t


def exchange_selftest(
    nodes: Annotated[int, typer.Option("--nodes", min=2, max=6, help=H("exchange.nodes"))] = 3,
    messages: Annotated[int, typer.Option("--messages", min=1, max=100_000, help=H("exchange.messages"))] = 300,
    kill: Annotated[bool, typer.Option("--kill", help=H("exchange.kill"))] = False,
    inject: Annotated[int, typer.Option("--inject", min=0, max=100, help=H("exchange.inject"))] = 3,
    keep: Annotated[bool, typer.Option("--keep", help=H("exchange.keep"))] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, max=3600, help=H("exchange.timeout"))] = 180,
    port: Annotated[Optional[int], typer.Option("--port", min=1, max=65530, help=H("exchange.port"))] = None,
) -> None:
    from avance.harness.selftest import run  # the harness and its HTTP client load when the command runs, not at start-up

    try:
        result = run(nodes=nodes, messages=messages, kill=kill, inject=inject, keep=keep, timeout=timeout, console=err, first_port=port)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the nodes were stopped on the way out
        err.print(t("exchange.cli.interrupted", lang()), markup=False)
        raise typer.Exit(130) from None
    print(json.dumps(result["summary"]))
    if not result["ok"]:
        err.print(t("exchange.cli.selftest_failed", lang(), detail="; ".join(result["problems"])), markup=False)
        raise typer.Exit(1)
