"""``avance watch DIR``: the drop folder a legacy system writes its exports into, imported as they
come (``avance.imports.watch``)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from avance.kit.cli import H, fail, lang, number, open_store, out
from avance.kit.i18n import t


def watch(
    folder: Annotated[Path, typer.Argument(help=H("watch.folder"))],
    interval: Annotated[float, typer.Option("--interval", min=0.05, max=3600, help=H("watch.interval"))] = 5.0,
    once: Annotated[bool, typer.Option("--once", help=H("watch.once"))] = False,
    source: Annotated[Optional[str], typer.Option("--from", help=H("watch.from"))] = None,
    mapping: Annotated[Optional[Path], typer.Option("--mapping", help=H("import.mapping"))] = None,
) -> None:
    """Import what arrives in a drop folder; each file goes to done/ or rejected/ with its reasons."""
    from avance.bootstrap import Node  # the node's modules load when the command runs: start-up time
    from avance.imports.watch import Outcome, Watcher  # loads when the command runs: start-up time

    if not folder.is_dir():
        fail(t("watch.no_folder", lang(), path=folder))
    if mapping is not None and not mapping.is_file():
        fail(t("cli.no_such_file", lang(), path=mapping))
    store = open_store()
    node = Node(store.settings, store.engine)

    def report(outcome: Outcome) -> None:
        if outcome.state == "retry":
            key = "watch.retry"
        elif outcome.duplicate:
            key = "watch.duplicate_file"
        else:
            key = f"watch.{outcome.state}"
        out.print(
            t(key, lang(), name=outcome.name, accepted=number(outcome.accepted), rejected=number(outcome.rejected), already=number(outcome.already), detail=outcome.detail or ""),
            markup=False,
        )

    watcher = Watcher(node, folder, interval=interval, lang=lang(), fmt=source, mapping_path=mapping, report=report)
    if not once:
        out.print(t("watch.started", lang(), folder=folder, interval=number(interval, 1)), markup=False)

    def stop(signum: int, frame: Any) -> None:  # finish the file being imported, then stop
        watcher.stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        watcher.run(once=once)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        node.engine.dispose()
