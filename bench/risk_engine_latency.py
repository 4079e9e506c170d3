"""What the learned engine adds to one lodging (target: < 5 ms).

Builds a node with a model trained on a demo history and valuation references, then runs the
whole per-declaration pipeline (validation, valuation, duties, assessment) on demo declarations,
once with the learned engine and once with the plain rule assessor, and prints the p50/p99 of
each and of the difference. CPU only: storage is the same for both and is measured by
bench/api_latency.py.

    .venv/bin/python bench/risk_engine_latency.py [--declarations 2000] [--history 20000]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=2000)
    parser.add_argument("--history", type=int, default=20000)
    args = parser.parse_args()

    from avance.kit.settings import Settings
    from avance.declarations.model import GoodsDeclaration
    from avance.declarations.processing import MemoryLookups, process
    from avance.demo.generator import DemoConfig, DemoGenerator, demo_rates
    from avance.demo.history import labelled_history
    from avance.bootstrap import Node, init_node, store_rates
    from avance.risk.learning.frame import frame_from_records
    from avance.risk.learning.model import FitOptions, fit
    from avance.risk.learning.registry import install
    from avance.risk.profiles.rules import RuleAssessor
    from avance.risk.profiles.service import load_ruleset
    from avance.risk.valuation.model import build_from_rows
    from avance.risk.valuation.service import save_snapshot
    from avance.store.engine import make_engine, write

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        settings = Settings(data_dir=data, country="SN")
        engine = make_engine(settings.resolved_database_url())
        init_node(engine, "SN")
        with write(engine) as conn:
            store_rates(conn, demo_rates("XOF"))
        node = Node(settings, engine)
        today = datetime.now(timezone.utc).date()
        past = DemoConfig(country="SN", seed=3, start=today - timedelta(days=730), days=365)
        history = labelled_history(node.context, DemoGenerator(past).generate(args.history))
        started = time.perf_counter()
        install(fit(frame_from_records(history.rows), FitOptions(mapping="demo")), settings.resolved_models_dir())
        fitted = time.perf_counter() - started
        with write(engine) as conn:
            save_snapshot(conn, build_from_rows(history.values, currency="XOF"))
        node.reload()
        learned = node.context
        with engine.connect() as conn:
            rules = dataclasses.replace(learned, assessor=RuleAssessor(load_ruleset(conn)))

        live = DemoConfig(country="SN", seed=3, start=today - timedelta(days=365), days=365)
        batch = [(GoodsDeclaration.model_validate(g.payload), g.registration_date) for g in DemoGenerator(live).generate(args.declarations)]
        lookups = MemoryLookups()

        def timings(ctx) -> list[float]:
            out = []
            for d, day in batch:
                t0 = time.perf_counter()
                try:
                    process(ctx, d, day, lookups)
                except Exception:
                    continue
                out.append((time.perf_counter() - t0) * 1000)
            return out

        timings(learned)  # warm up caches
        if __import__("os").environ.get("PROFILE"):
            import cProfile, pstats
            cProfile.runctx("timings(learned)", globals(), locals(), "/tmp/eng.prof")
            pstats.Stats("/tmp/eng.prof").sort_stats("cumulative").print_stats(25)
            return
        with_model = timings(learned)
        without = timings(rules)
        extra = sorted(a - b for a, b in zip(with_model, without))

        def pct(values: list[float], q: float) -> float:
            values = sorted(values)
            return values[min(len(values) - 1, int(q * len(values)))]

        print(f"history rows: {len(history.rows)}, fit + install: {fitted:.1f} s")
        print(f"declarations: {len(with_model)}")
        print(f"rule assessor   p50 {pct(without, .5):6.2f} ms  p99 {pct(without, .99):6.2f} ms")
        print(f"learned engine  p50 {pct(with_model, .5):6.2f} ms  p99 {pct(with_model, .99):6.2f} ms")
        print(f"added by engine p50 {pct(extra, .5):6.2f} ms  p99 {pct(extra, .99):6.2f} ms  mean {statistics.fmean(extra):.2f} ms (target < 5 ms)")
        engine.dispose()


if __name__ == "__main__":
    main()
