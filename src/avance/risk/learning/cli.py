"""``avance model fit`` and ``avance model score``: the learned scorer on any extract.

``fit`` reads labelled CSV extracts through a column mapping and writes a model directory;
``score`` writes ``id,score`` for an extract (higher = inspect first) and never reads labels.
Errors end in one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from avance.kit.cli import H, fail_error, lang, number, out, parse_date, percent
from avance.kit.errors import AvanceError
from avance.kit.i18n import t
from avance.risk.learning import evaluation_cli

model_app = typer.Typer(help=H("model"), no_args_is_help=True)


@model_app.command("fit", help=H("model.fit"))
def fit_command(
    data: Annotated[list[Path], typer.Option("--data", help=H("model.data"))],
    mapping: Annotated[Path, typer.Option("--mapping", help=H("model.mapping"))],
    out_dir: Annotated[Path, typer.Option("--out", help=H("model.out_dir"))],
    until: Annotated[Optional[str], typer.Option("--until", help=H("model.until"))] = None,
) -> None:
    last_day = parse_date(until, "--until")
    try:
        _fit(data, mapping, out_dir, last_day)
    except AvanceError as exc:
        fail_error(exc)


def _fit(data: list[Path], mapping_path: Path, out_dir: Path, last_day: date | None) -> None:
    from avance.risk.learning.frame import FrameError, load_mapping, read_csv  # loads when the command runs: start-up time
    from avance.risk.learning.model import fit  # loads when the command runs: start-up time

    mapping = load_mapping(mapping_path)
    if not mapping.has_fraud_label:
        raise FrameError("model.error.no_labels")
    started = time.perf_counter()
    frame = read_csv(data, mapping, labels=True)
    if last_day is not None:
        import pandas as pd

        frame = frame[frame["date"] <= pd.Timestamp(last_day)].reset_index(drop=True)
    model = fit(frame)
    model.save(out_dir)
    seconds = time.perf_counter() - started
    _print_fit(model.metadata, seconds, out_dir)


def _print_fit(meta: dict, seconds: float, out_dir: Path) -> None:
    lg = lang()
    table = Table(title=t("model.fit.title", lg), show_header=False)
    table.add_column()
    table.add_column(justify="right")
    window = meta["training_window"]
    table.add_row(t("model.fit.rows", lg), number(meta["rows"]))
    table.add_row(t("model.fit.declarations", lg), number(meta["declarations"]))
    table.add_row(t("model.fit.window", lg), f"{window['from']} – {window['to']}")
    table.add_row(t("model.fit.fraud_rate", lg), percent(meta["fraud_rate"], 2))
    table.add_row(t("model.fit.features", lg), str(len(meta["features"])))
    table.add_row(t("model.fit.revenue", lg), t("model.yes" if meta["has_revenue"] else "model.no", lg))
    metrics = meta["metrics"]
    if metrics["kind"] == "holdout":
        title = t("model.fit.metrics_holdout", lg, date=metrics["from"], rows=metrics["rows"])
    else:
        title = t("model.fit.metrics_in_sample", lg, rows=metrics["rows"])
    table.add_section()
    table.add_row(f"[bold]{title}[/bold]", "")
    table.add_row(t("model.fit.auc", lg), "-" if metrics["auc"] is None else number(metrics["auc"], 3))
    for rate, value in metrics["precision_at"].items():
        table.add_row(t("model.fit.precision", lg, rate=rate), number(value, 3))
    table.add_section()
    table.add_row(t("model.fit.seconds", lg), f"{number(seconds, 1)} s")
    out.print(table)
    out.print(t("model.fit.saved", lg, path=out_dir), markup=False)


@model_app.command("score", help=H("model.score"))
def score_command(
    model_dir: Annotated[Path, typer.Option("--model", help=H("model.model_dir"))],
    data: Annotated[list[Path], typer.Option("--data", help=H("model.data"))],
    mapping: Annotated[Path, typer.Option("--mapping", help=H("model.mapping"))],
    out_csv: Annotated[Path, typer.Option("--out", help=H("model.out_csv"))],
    objective: Annotated[str, typer.Option("--objective", help=H("model.objective"))] = "hits",
) -> None:
    try:
        _score(model_dir, data, mapping, out_csv, objective)
    except AvanceError as exc:
        fail_error(exc)


def _score(model_dir: Path, data: list[Path], mapping_path: Path, out_csv: Path, objective: str) -> None:
    import pandas as pd

    from avance.risk.learning.frame import FrameError, load_mapping, read_csv  # loads when the command runs: start-up time
    from avance.risk.learning.model import ModelError, RiskModel  # loads when the command runs: start-up time

    if objective not in ("hits", "revenue"):
        raise FrameError("model.error.bad_objective", value=objective)
    started = time.perf_counter()
    model = RiskModel.load(model_dir, warm=False)
    if objective == "revenue" and not model.has_revenue:
        raise ModelError("model.error.no_revenue")
    mapping = load_mapping(mapping_path)
    frame = read_csv(data, mapping, labels=False)
    scores = model.score(frame)
    values = scores.recovery if objective == "revenue" else scores.fraud
    result = pd.DataFrame({"id": frame["id"], "score": values})
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_csv.with_name(f".{out_csv.name}.tmp-{os.getpid()}")
    try:
        result.to_csv(tmp, index=False, float_format="%.2f" if objective == "revenue" else "%.8f", lineterminator="\n")
        os.replace(tmp, out_csv)
    finally:
        tmp.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    out.print(t("model.score.done", lang(), rows=number(len(result)), seconds=number(seconds, 1), path=out_csv), markup=False)


evaluation_cli.register(model_app)
