"""``avance model demo-data``: a labelled extract of the demo trade, for trying the learned model
without a national extract (registered in the ``model`` group by ``avance.entrypoints.cli``).

The generator, the node's processing and the data libraries load when the command runs, not when
the command line starts (they take most of a second to import).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer

from avance.kit.cli import H, fail, lang, number, out
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
