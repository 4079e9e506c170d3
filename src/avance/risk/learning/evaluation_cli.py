"""``avance model evaluate|simulate|retrain|drift|list|use|demo-data``: how good the learned model
is, keeping it learning from the node's inspections, and watching it drift.

Tables show rates, shares and revenue in the operator's language (``avance.kit.cli``); the
``--json`` reports keep plain numbers and exact decimal strings for scripts.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.table import Table

from avance.auth.cli import operator
from avance.kit.cli import H, fail, fail_error, lang, money, number, open_store, out, parse_date, percent, settings_from
from avance.kit.errors import AvanceError
from avance.kit.i18n import t
from avance.store import audit
from avance.store.engine import write
from avance.risk.learning.registry import current_model_dir, install, list_models, read_metadata, use

if TYPE_CHECKING:
    import pandas as pd

    from avance.risk.learning.evaluation import Evaluation, SimulationResult

SIMULATION_TREES = 150  # fewer trees while simulating: one fit per week and per exploration share


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _percent(value: float | None, digits: int = 1) -> str:
    """A share as a percentage in the operator's language; ``-`` when there is none."""
    return "-" if value is None else percent(value, digits)


def _metric(value: float | None, digits: int = 3) -> str:
    """A metric in the operator's language; ``-`` when there is none."""
    return "-" if value is None else number(value, digits)


def _revenue(value: float | None) -> str:
    """Revenue (national currency) in whole units, in the operator's language; ``-`` when there is none."""
    return "-" if value is None else number(value, 0)


def _exact(value: float | None) -> str | None:
    """A revenue figure for JSON: an exact decimal string rounded to the cent."""
    if value is None:
        return None
    return str(Decimal(repr(float(value))).quantize(Decimal("0.01")))


def _write_json(path: Path | None, document: dict[str, Any]) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        fail(t("evaluation.error.write", lang(), path=str(path), reason=exc.strerror or type(exc).__name__))
    out.print(t("evaluation.written", lang(), path=str(path)), markup=False)


def _load_labelled(data: Sequence[Path], mapping_path: Path) -> "pd.DataFrame":
    from avance.risk.learning.frame import load_mapping, read_csv  # loads when the command runs: start-up time

    mapping = load_mapping(mapping_path)
    if not mapping.has_fraud_label:
        fail(t("evaluation.error.no_label_mapping", lang(), path=str(mapping_path)))
    return read_csv(list(data), mapping, labels=True)


def _split(frame: "pd.DataFrame", test_from: str | None, test_fraction: float | None) -> tuple["pd.DataFrame", "pd.DataFrame", date]:
    from avance.risk.learning.evaluation import fraction_cutoff, split_by_time  # loads when the command runs: start-up time

    if test_from is not None and test_fraction is not None:
        fail(t("evaluation.error.split_both", lang()))
    cutoff = parse_date(test_from, "--test-from")
    if cutoff is None:
        cutoff = fraction_cutoff(frame["date"], 0.2 if test_fraction is None else test_fraction)
    past, recent = split_by_time(frame, cutoff)
    return past, recent, cutoff


def _scores(model: Any, frame: "pd.DataFrame", objective: str) -> Any:
    scores = model.score(frame)
    if objective == "revenue":
        if scores.recovery is None:
            fail(t("evaluation.error.no_revenue_model", lang()))
        return scores.recovery
    return scores.fraud


def _check_objective(objective: str) -> str:
    objective = objective.strip().lower()
    if objective not in ("hits", "revenue"):
        fail(t("evaluation.error.objective", lang(), value=objective))
    return objective


def _labelled(frame: "pd.DataFrame") -> "pd.DataFrame":
    return frame.loc[frame["fraud"].notna()]


def _period(frame: "pd.DataFrame") -> dict[str, Any]:
    from avance.risk.learning.evaluation import window  # loads when the command runs: start-up time

    labelled = _labelled(frame)
    return {
        **window(frame),
        "rows": int(len(frame)),
        "labelled_rows": int(len(labelled)),
        "declarations": int(frame["declaration"].nunique()),
        "fraud_rate": float(labelled.groupby("declaration")["fraud"].max().mean()) if len(labelled) else None,  # per declaration
    }


def _period_line(key: str, period: dict[str, Any]) -> None:
    out.print(
        t(
            key,
            lang(),
            first=period["from"],
            last=period["to"],
            rows=period["rows"],
            declarations=period["declarations"],
            fraud_rate=_percent(period["fraud_rate"]),
        ),
        markup=False,
    )


def evaluation_table(ev: "Evaluation", title: str | None = None) -> Table:
    """The metrics at each inspection rate, with localised headers."""
    language = lang()
    table = Table(title=title)
    headers = ["rate", "inspected", "caught", "precision", "recall", "oracle_precision", "vs_oracle"]
    with_revenue = ev.total_revenue is not None
    if with_revenue:
        headers += ["revenue", "revenue_recall", "revenue_vs_oracle"]
    for header in headers:
        table.add_column(t(f"evaluation.col.{header}", language), justify="right", no_wrap=True)
    for row in ev.at:
        cells = [_percent(row.rate, 0), number(row.k), number(row.caught), _metric(row.precision), _metric(row.recall), _metric(row.oracle_precision), _metric(row.vs_oracle)]
        if with_revenue:
            cells += [_revenue(row.revenue), _metric(row.revenue_recall), _metric(row.revenue_vs_oracle)]
        table.add_row(*cells)
    return table


def _evaluation_json(ev: "Evaluation") -> dict[str, Any]:
    document = ev.to_dict()
    document["total_revenue"] = _exact(ev.total_revenue)
    for row in document["at"]:
        for key in ("revenue", "oracle_revenue"):
            row[key] = _exact(row[key])
    return document


def _fit(frame: "pd.DataFrame", **options: Any) -> Any:
    """A1's ``fit`` without its own inner holdout fit (the callers here measure on a later period)."""
    from avance.risk.learning.model import FitOptions, fit  # loads when the command runs: start-up time

    return fit(frame, FitOptions(**{"holdout_fraction": 0.0, **options}))


def _metadata_metrics(ev: "Evaluation", rows: int, cutoff: date) -> dict[str, Any]:
    """Holdout metrics in the model metadata's format (``metrics`` of A1's ``fit``)."""
    return {
        "kind": "holdout",
        "unit": "declaration",
        "rows": rows,
        "from": cutoff.isoformat(),
        "fraud_rate": round(ev.base_rate, 6),
        "auc": None if ev.auc is None else round(ev.auc, 6),
        "precision_at": {f"{round(a.rate * 100)}%": round(a.precision, 6) for a in ev.at},
    }


def guard(action: Any) -> Any:
    try:
        return action()
    except AvanceError as exc:
        fail_error(exc)
    except MemoryError:
        fail(t("evaluation.error.memory", lang()))
    except OSError as exc:  # e.g. the models directory is not writable
        fail(t("evaluation.error.write", lang(), path=str(exc.filename or "-"), reason=exc.strerror or type(exc).__name__))


# ---------------------------------------------------------------------------------------------
# evaluate

DataOption = Annotated[list[Path], typer.Option("--data", help=H("model.evaluate.data"))]
MappingOption = Annotated[Path, typer.Option("--mapping", help=H("model.evaluate.mapping"))]
TestFromOption = Annotated[Optional[str], typer.Option("--test-from", help=H("model.evaluate.test_from"))]
TestFractionOption = Annotated[Optional[float], typer.Option("--test-fraction", min=0.01, max=0.99, help=H("model.evaluate.test_fraction"))]
ObjectiveOption = Annotated[str, typer.Option("--objective", help=H("model.evaluate.objective"))]
JsonOption = Annotated[Optional[Path], typer.Option("--json", help=H("model.evaluate.json"))]


def evaluate_command(
    data: DataOption,
    mapping: MappingOption,
    test_from: TestFromOption = None,
    test_fraction: TestFractionOption = None,
    objective: ObjectiveOption = "hits",
    json_out: JsonOption = None,
) -> None:
    """Fit on the past, evaluate on the later period: precision, recall, revenue, AUC."""
    from avance.risk.learning.evaluation import evaluate_frame  # loads when the command runs: start-up time

    objective = _check_objective(objective)
    language = lang()

    def run() -> dict[str, Any]:
        frame = _load_labelled(data, mapping)
        past, recent, cutoff = _split(frame, test_from, test_fraction)
        started = time.perf_counter()
        model = _fit(past)
        fit_seconds = time.perf_counter() - started
        tested = _labelled(recent)
        if tested.empty:
            fail(t("evaluation.error.no_labels", language))
        ev = evaluate_frame(tested, _scores(model, tested, objective))
        return {"past": _period(past), "recent": _period(recent), "cutoff": cutoff, "fit_seconds": fit_seconds, "ev": ev, "model": model}

    result = guard(run)
    ev = result["ev"]
    _period_line("evaluation.train_period", result["past"])
    _period_line("evaluation.test_period", result["recent"])
    out.print(t("evaluation.fit_time", language, seconds=_metric(result["fit_seconds"], 1)), markup=False)
    out.print(evaluation_table(ev, t("evaluation.table_title", language, objective=t(f"evaluation.objective.{objective}", language), n=ev.n)))
    out.print(t("evaluation.auc", language, auc=_metric(ev.auc), positives=ev.positives, n=ev.n, base_rate=_percent(ev.base_rate)), markup=False)
    _write_json(
        json_out,
        {
            "data": [str(p) for p in data],
            "mapping": str(mapping),
            "objective": objective,
            "test_from": result["cutoff"].isoformat(),
            "train": result["past"],
            "test": result["recent"],
            "fit_seconds": round(result["fit_seconds"], 2),
            "unit": "declaration",
            "evaluation": _evaluation_json(ev),
        },
    )


# ---------------------------------------------------------------------------------------------
# simulate


def _simulation_table(results: Sequence["SimulationResult"]) -> Table:
    language = lang()
    table = Table(title=t("evaluation.simulation.weeks_title", language))
    table.add_column(t("evaluation.col.week", language))
    table.add_column(t("evaluation.col.declarations", language), justify="right", no_wrap=True)
    table.add_column(t("evaluation.col.frauds", language), justify="right", no_wrap=True)
    with_revenue = results[0].revenue is not None
    for result in results:
        share = _percent(result.options.exploration, 0)
        table.add_column(t("evaluation.col.inspected_at", language, share=share), justify="right", no_wrap=True)
        table.add_column(t("evaluation.col.caught_at", language, share=share), justify="right", no_wrap=True)
        table.add_column(t("evaluation.col.precision_at", language, share=share), justify="right", no_wrap=True)
        if with_revenue:
            table.add_column(t("evaluation.col.revenue_at", language, share=share), justify="right", no_wrap=True)
    for index, week in enumerate(results[0].weeks):
        cells = [week.week, str(week.declarations), str(week.frauds)]
        for result in results:
            w = result.weeks[index]
            cells += [f"{number(w.inspected)} ({number(w.explored)})", number(w.caught), _metric(w.precision)]
            if with_revenue:
                cells.append(_revenue(w.revenue))
        table.add_row(*cells)
    return table


def _comparison_table(results: Sequence["SimulationResult"]) -> Table:
    language = lang()
    table = Table(title=t("evaluation.simulation.total_title", language))
    headers = ["exploration", "inspected", "caught", "precision", "recall", "vs_oracle", "caught_explored"]
    with_revenue = results[0].revenue is not None
    if with_revenue:
        headers += ["revenue", "revenue_vs_oracle"]
    for header in headers:
        table.add_column(t(f"evaluation.col.{header}", language), justify="right", no_wrap=True)
    for result in results:
        explored = sum(w.caught_explored for w in result.weeks)
        cells = [
            _percent(result.options.exploration, 0),
            number(result.inspected),
            number(result.caught),
            _metric(result.precision),
            _metric(result.recall),
            _metric(result.vs_oracle),
            str(explored),
        ]
        if with_revenue:
            oracle = result.oracle_revenue or 0.0
            cells += [_revenue(result.revenue), _metric(result.revenue / oracle if oracle else None)]
        table.add_row(*cells)
    return table


def simulate_command(
    data: DataOption,
    mapping: MappingOption,
    test_from: TestFromOption = None,
    test_fraction: TestFractionOption = None,
    budget: Annotated[float, typer.Option("--budget", min=0.001, max=1.0, help=H("model.simulate.budget"))] = 0.05,
    exploration: Annotated[Optional[list[float]], typer.Option("--exploration", min=0.0, max=1.0, help=H("model.simulate.exploration"))] = None,
    retrain_every: Annotated[int, typer.Option("--retrain-every", min=1, max=520, help=H("model.simulate.retrain_every"))] = 1,
    trees: Annotated[int, typer.Option("--trees", min=10, max=5000, help=H("model.simulate.trees"))] = SIMULATION_TREES,
    seed: Annotated[int, typer.Option("--seed", help=H("model.simulate.seed"))] = 0,
    objective: ObjectiveOption = "hits",
    json_out: JsonOption = None,
) -> None:
    """Week by week: inspect a budget, reveal only what was inspected, refit; compare exploration shares."""
    from avance.risk.learning.evaluation import SimulationOptions, simulate  # loads when the command runs: start-up time

    objective = _check_objective(objective)
    shares = list(dict.fromkeys(exploration or [0.10]))
    language = lang()

    def fitter(frame: "pd.DataFrame") -> Any:
        model = _fit(frame, n_estimators=trees)
        return lambda rows: _scores(model, rows, objective)

    def run() -> tuple[list["SimulationResult"], dict[str, Any], float]:
        frame = _labelled(_load_labelled(data, mapping))
        past, _, cutoff = _split(frame, test_from, test_fraction)
        started = time.perf_counter()
        results = [simulate(frame, cutoff, fitter, SimulationOptions(budget=budget, exploration=share, retrain_every=retrain_every, seed=seed)) for share in shares]
        return results, {"cutoff": cutoff, "past": _period(past)}, time.perf_counter() - started

    results, info, seconds = guard(run)
    _period_line("evaluation.train_period", info["past"])
    out.print(
        t("evaluation.simulation.settings", language, budget=_percent(budget), every=retrain_every, trees=trees, weeks=len(results[0].weeks), seconds=number(seconds, 0)),
        markup=False,
    )
    out.print(_simulation_table(results))
    out.print(_comparison_table(results))
    _write_json(
        json_out,
        {
            "data": [str(p) for p in data],
            "mapping": str(mapping),
            "objective": objective,
            "test_from": info["cutoff"].isoformat(),
            "initial": info["past"],
            "trees": trees,
            "seconds": round(seconds, 1),
            "unit": "declaration",
            "simulations": [_simulation_json(r) for r in results],
        },
    )


def _simulation_json(result: "SimulationResult") -> dict[str, Any]:
    document = result.to_dict()
    for key in ("revenue", "oracle_revenue"):
        document["total"][key] = _exact(document["total"][key])
    for week in document["weeks"]:
        for key in ("revenue", "oracle_revenue"):
            week[key] = _exact(week[key])
    return document


# ---------------------------------------------------------------------------------------------
# retrain, list, use


def _models_dir(settings: Any) -> Path:
    return Path(settings.resolved_models_dir())


def retrain_command(
    since: Annotated[Optional[str], typer.Option("--since", help=H("model.retrain.since"))] = None,
    until: Annotated[Optional[str], typer.Option("--until", help=H("model.retrain.until"))] = None,
    min_labels: Annotated[int, typer.Option("--min-labels", min=1, help=H("model.retrain.min_labels"))] = 200,
    holdout: Annotated[float, typer.Option("--holdout", min=0.05, max=0.5, help=H("model.retrain.holdout"))] = 0.2,
    json_out: JsonOption = None,
) -> None:
    """Fit a new model on the node's inspection results, check it on the latest ones, install it."""
    from avance.risk.learning.evaluation import evaluate_frame, fraction_cutoff, split_by_time  # loads when the command runs: start-up time
    from avance.risk.learning.frame import frame_from_store  # loads when the command runs: start-up time

    language = lang()
    first, last = parse_date(since, "--since"), parse_date(until, "--until")
    if first and last and first > last:
        fail(t("evaluation.error.since_after_until", language, since=first.isoformat(), until=last.isoformat()))
    settings = settings_from()

    def run() -> dict[str, Any]:
        engine = open_store(settings).engine
        try:
            with engine.connect() as conn:
                frame = frame_from_store(conn, since=first, until=last, inspected_only=True)
        finally:
            engine.dispose()
        frame = _labelled(frame)
        labels = int(frame["declaration"].nunique()) if len(frame) else 0
        if labels < min_labels:
            fail(t("evaluation.retrain.too_few", language, count=labels, minimum=min_labels))
        per_declaration = frame.groupby("declaration")["fraud"].max()
        frauds = int(per_declaration.sum())
        if frauds == 0 or frauds == labels:
            fail(t("evaluation.retrain.one_class", language, count=labels, frauds=frauds))
        ev = past = recent = None
        try:
            cutoff = fraction_cutoff(frame["date"], holdout)
            past, recent = split_by_time(frame, cutoff)
        except AvanceError:
            pass
        if past is not None and past.groupby("declaration")["fraud"].max().nunique() == 2 and len(past) >= 20:
            ev = evaluate_frame(recent, _fit(past).score(recent).fraud)
        started = time.perf_counter()
        model = _fit(frame)
        seconds = time.perf_counter() - started
        if ev is not None:
            model.metadata["metrics"] = _metadata_metrics(ev, len(recent), cutoff)
        path = install(model, _models_dir(settings))
        _record_model(settings, "risk_model.installed", path)
        return {"frame": frame, "labels": labels, "frauds": frauds, "ev": ev, "recent": recent, "path": path, "seconds": seconds}

    result = guard(run)
    period = _period(result["frame"])
    out.print(
        t("evaluation.retrain.data", language, labels=result["labels"], frauds=result["frauds"], rows=period["rows"], first=period["from"], last=period["to"]),
        markup=False,
    )
    ev = result["ev"]
    if ev is not None:
        _period_line("evaluation.test_period", _period(result["recent"]))
        out.print(evaluation_table(ev, t("evaluation.retrain.holdout_title", language, n=ev.n)))
        out.print(t("evaluation.auc", language, auc=_metric(ev.auc), positives=ev.positives, n=ev.n, base_rate=_percent(ev.base_rate)), markup=False)
    else:
        out.print(t("evaluation.retrain.no_holdout", language), markup=False)
    out.print(t("evaluation.retrain.installed", language, path=str(result["path"]), seconds=_metric(result["seconds"], 1)), markup=False)
    _write_json(
        json_out,
        {
            "installed": str(result["path"]),
            "labels": result["labels"],
            "frauds": result["frauds"],
            "training": period,
            "holdout": _evaluation_json(ev) if ev is not None else None,
        },
    )


def list_command() -> None:
    """Installed models; the one in use is marked."""

    language = lang()
    models = guard(lambda: list_models(_models_dir(settings_from())))
    if not models:
        out.print(t("evaluation.registry.none", language, path=str(_models_dir(settings_from()))), markup=False)
        return
    table = Table()
    for header in ("name", "current", "window", "rows", "fraud_rate", "auc"):
        table.add_column(t(f"evaluation.registry.col.{header}", language))
    for model in models:
        meta = model.metadata
        window = meta.get("training_window") or {}
        metrics = meta.get("metrics") or {}
        auc = metrics.get("auc") if isinstance(metrics, dict) else None
        table.add_row(
            model.name,
            "*" if model.current else "",
            f"{window.get('from', '?')} .. {window.get('to', '?')}",
            number(meta["rows"]) if isinstance(meta.get("rows"), int) else "?",
            _percent(meta.get("fraud_rate")) if isinstance(meta.get("fraud_rate"), (int, float)) else "-",
            _metric(auc) if isinstance(auc, (int, float)) else "-",
        )
    out.print(table)


def _record_model(settings: Any, action: str, path: Path) -> None:
    """The audit trail's record of a model put in use (its directory name holds its files' hash)."""
    engine = open_store(settings).engine
    try:
        with write(engine) as conn:
            audit.record(conn, operator(), action, "model", path.name, after={"name": path.name, "path": str(path), "metadata": read_metadata(path)})
    finally:
        engine.dispose()


def use_command(name: Annotated[str, typer.Argument(help=H("model.use.name"))]) -> None:
    """Put an installed model back in use (rollback); restart the API to apply."""

    path = guard(lambda: use(_models_dir(settings_from()), name.strip()))
    _record_model(settings_from(), "risk_model.used", path)
    out.print(t("evaluation.registry.used", lang(), name=path.name), markup=False)


# ---------------------------------------------------------------------------------------------
# drift


def drift_command(
    weeks: Annotated[int, typer.Option("--weeks", min=1, max=104, help=H("model.drift.weeks"))] = 8,
    model_dir: Annotated[Optional[Path], typer.Option("--model", help=H("model.drift.model"))] = None,
    assessor: Annotated[Optional[str], typer.Option("--assessor", help=H("model.drift.assessor"))] = None,
    today: Annotated[Optional[str], typer.Option("--today", help=H("model.drift.today"))] = None,
    json_out: JsonOption = None,
) -> None:
    """Score distribution shift (PSI) and the weekly precision of the inspected."""
    from avance.risk.learning.drift import drift_report  # loads when the command runs: start-up time

    language = lang()
    until = parse_date(today, "--today")
    settings = settings_from()

    def run() -> tuple[Any, Path | None]:
        directory = model_dir if model_dir is not None else current_model_dir(_models_dir(settings))
        quantiles = None
        if directory is not None:
            if not (directory / "model.json").is_file():
                fail(t("evaluation.drift.bad_model", language, path=str(directory)))
            metadata = read_metadata(directory)
            # Stored scores are per declaration (its riskiest item): compare them with the training
            # declarations' scores when the model keeps them, else with the items'.
            quantiles = metadata.get("declaration_score_quantiles") or metadata.get("score_quantiles")
            if not _quantile_table(quantiles):
                fail(t("evaluation.drift.no_quantiles", language, path=str(directory)))
        engine = open_store(settings).engine
        try:
            with engine.connect() as conn:
                return drift_report(conn, quantiles, weeks=weeks, today=until, assessor_prefix=assessor), directory
        finally:
            engine.dispose()

    report, directory = guard(run)
    if directory is None:
        out.print(t("evaluation.drift.no_model", language), markup=False)
    else:
        out.print(t("evaluation.drift.model", language, path=str(directory)), markup=False)
        table = Table(title=t("evaluation.drift.scores_title", language))
        for header in ("week", "declarations", "mean_score", "psi", "level"):
            table.add_column(t(f"evaluation.col.{header}", language), justify="right", no_wrap=True)
        for w in (*report.scores, report.overall):
            table.add_row(w.week, number(w.declarations), _metric(w.mean_score), _metric(w.psi), t(f"evaluation.drift.level.{w.level}", language))
        out.print(table)
    table = Table(title=t("evaluation.drift.inspections_title", language))
    for header in ("week", "lane", "inspected", "frauds", "precision", "extra_duty"):
        table.add_column(t(f"evaluation.col.{header}", language), justify="right", no_wrap=True)
    by_week: dict[str, list[Any]] = {}
    for w in report.by_lane:
        by_week.setdefault(w.week, []).append(w)
    for w in report.inspections:
        rows = [w, *by_week.get(w.week, [])]
        for row in rows:
            lane = t("evaluation.drift.all_lanes", language) if row.lane is None else t(f"lane.{row.lane}", language)
            extra = f"{money(row.extra_duty, row.currency)} {row.currency}" if row.currency else number(row.extra_duty)
            table.add_row(row.week if row.lane is None else "", lane, number(row.inspected), number(row.frauds), _metric(row.precision), extra)
    out.print(table)
    _write_json(json_out, report.to_dict() | {"model": str(directory) if directory else None})


def _quantile_table(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 101
        and all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
        and all(a <= b for a, b in zip(value, value[1:]))
    )


# ---------------------------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``model`` group."""
    app.command("evaluate", help=H("model.evaluate"))(evaluate_command)
    app.command("simulate", help=H("model.simulate"))(simulate_command)
    app.command("retrain", help=H("model.retrain"))(retrain_command)
    app.command("drift", help=H("model.drift"))(drift_command)
    app.command("list", help=H("model.list"))(list_command)
    app.command("use", help=H("model.use"))(use_command)
