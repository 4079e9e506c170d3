"""``avance demo``: a demo node with a year of realistic trade, or three partner nodes
(``--nodes 3``, the multi-node harness); and ``avance model demo-data``: a labelled extract of the
demo trade, for trying the learned model without a national extract. Both are added to the
command in ``avance.__main__``.

The generator, the node's processing and the data libraries load when the command runs, not when
the command line starts (they take most of a second to import).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from avance.kit.cli import H, err, fail, lang, number, out, settings_from
from avance.kit.i18n import t
from avance.risk.learning.evaluation_cli import guard


def demo_rows(count: int, *, seed: int, country: str) -> tuple[list[dict[str, Any]], int]:
    """A labelled extract of the demo generator (see ``avance.demo.history``): the rows and how
    many generated declarations the node's rules refused (left out)."""
    from avance.declarations.processing import NodeContext  # loads when the command runs: start-up time
    from avance.demo.generator import DemoConfig, DemoGenerator, demo_rate_table  # loads when the command runs: start-up time
    from avance.demo.history import labelled_history  # loads when the command runs: start-up time
    from avance.reference import shipped_offices  # loads when the command runs: start-up time
    from avance.revenue.profiles import load_profile  # loads when the command runs: start-up time
    from avance.revenue.schedule import Schedule  # loads when the command runs: start-up time
    from avance.risk.profiles.rules import RuleAssessor, RuleSet  # loads when the command runs: start-up time

    profile = load_profile(country)
    context = NodeContext(
        country=country,
        currency=profile.currency,
        profile=profile,
        schedule=Schedule.default(country),
        rates=demo_rate_table(profile.currency),
        offices=shipped_offices(),
        assessor=RuleAssessor(RuleSet()),
    )
    history = labelled_history(context, DemoGenerator(DemoConfig(country=country, seed=seed)).generate(count))
    return history.rows, history.refused


def demo_data_command(
    out_path: Annotated[Path, typer.Option("--out", help=H("model.demo_data.out"))],
    declarations: Annotated[int, typer.Option("--declarations", min=1, max=1_000_000, help=H("model.demo_data.declarations"))] = 20000,
    seed: Annotated[int, typer.Option("--seed", help=H("model.demo_data.seed"))] = 20260601,
    country: Annotated[str, typer.Option("--country", help=H("model.demo_data.country"))] = "SN",
) -> None:
    """Write a labelled extract of the demo generator (one row per goods item) to a CSV file."""
    from avance.demo.generator import load_catalog  # loads when the command runs: start-up time
    from avance.demo.history import DEMO_COLUMNS  # loads when the command runs: start-up time

    language = lang()
    country = country.strip().upper()
    if country not in load_catalog()["countries"]:
        fail(t("evaluation.demo.unknown_country", language, country=country, known=", ".join(sorted(load_catalog()["countries"]))))
    rows, refused = guard(lambda: demo_rows(declarations, seed=seed, country=country))
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_name(out_path.name + ".tmp")
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=DEMO_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
        tmp.replace(out_path)
    except OSError as exc:
        fail(t("evaluation.error.write", language, path=str(out_path), reason=exc.strerror or type(exc).__name__))
    frauds = sum(1 for r in rows if r["fraud"])
    out.print(
        t(
            "evaluation.demo.written",
            language,
            rows=number(len(rows)),
            declarations=number(declarations - refused),
            frauds=number(frauds),
            refused=number(refused),
            path=str(out_path),
            country=country,
        ),
        markup=False,
    )


def demo_command(
    port: Annotated[int, typer.Option(min=1, max=65533, help=H("demo.port"))] = 8000,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help=H("demo.data_dir"), show_default="AVANCE_DATA_DIR, var")] = None,
    declarations: Annotated[int, typer.Option("--declarations", min=0, max=1_000_000)] = 3000,
    country: Annotated[str, typer.Option("--country")] = "SN",
    seed: Annotated[int, typer.Option("--seed")] = 20260601,
    history: Annotated[Optional[int], typer.Option("--history", min=0, max=1_000_000, help=H("demo.history"))] = None,
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help=H("demo.serve"))] = True,
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=99, help=H("demo.nodes"))] = 1,
) -> None:
    """Set up a demo node with realistic data and serve its API."""
    settings = settings_from()
    data_dir = settings.data_dir if data_dir is None else data_dir
    if nodes > 1:
        from avance.harness.story import run_multinode_demo  # loads when the command runs: start-up time

        try:
            run_multinode_demo(
                nodes=nodes,
                data_dir=data_dir,
                lang=lang(),
                console=err,
                keep_serving=serve_api,
                narrate_delay=0.6 if err.is_terminal else 0.0,  # a pace a person can follow, none in scripts
                first_port=port,
            )
        except KeyboardInterrupt:
            err.print(t("exchange_demo.interrupted", lang()), markup=False)
            raise typer.Exit(130) from None
        return
    from avance.demo.setup import build_demo, demo_database  # loads when the command runs: start-up time

    result = build_demo(data_dir=data_dir, country=country.upper(), count=declarations, seed=seed, history=history, lang=lang(), console=err, api_url=f"http://{host}:{port}")
    err.print(t("demo.ready", lang(), count=number(result.lodged), seconds=number(result.seconds, 1)), markup=False)
    err.print(t("demo.credentials", lang(), path=result.credentials_path), markup=False)
    if settings.database_url:
        err.print(t("demo.database_url_set", lang(), path=demo_database(data_dir)), markup=False)
    elif data_dir.resolve() == settings.data_dir.resolve():
        err.print(t("demo.commands_here", lang()), markup=False)
    else:
        err.print(t("demo.commands_with", lang(), data_dir=data_dir), markup=False)
    if serve_api:
        import uvicorn  # the web server loads when the command runs: start-up time

        from avance.entrypoints.http import create_app  # loads when the command runs: start-up time

        err.print(t("demo.serving", lang(), host=host, port=port), markup=False)
        uvicorn.run(create_app(result.node), host=host, port=port, log_level="warning", access_log=False)
