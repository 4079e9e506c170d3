"""Dashboard data on a year of 100,000 declarations: each report computed cold and with a warm cache.

    .venv/bin/python bench/dashboards.py [--declarations 100000] [--repeats 20] [--rebuild]

Builds (once; kept as var/bench/dashboards-<n>.db) a SQLite node holding one year of declarations
with realistic events, written in bulk straight into the tables: lodging, lane, arrival one to ten
days after lodging (some lodged after arrival), a control for the red and yellow lanes (about 20%
finding an irregularity with extra duty), payment, release; over five offices, three transport
modes, goods of several HS sections, with selectivity-profile hits. Then times each report: cold
(cache cleared: the SQL aggregation and the figures) and warm (the data version read, the report
kept), median and 95th percentile over the repeats.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import insert  # noqa: E402

from avance.bootstrap import init_node  # noqa: E402
from avance.declarations.tables import declaration_events, declarations, goods_items  # noqa: E402
from avance.reports import dashboards as db  # noqa: E402
from avance.reports.cache import ReportCache  # noqa: E402
from avance.reports.release_times import ReleaseQuery, release_times  # noqa: E402
from avance.risk.profiles.tables import risk_profile_hits  # noqa: E402
from avance.store.engine import make_engine  # noqa: E402

OFFICES = ("SN-DKR-PORT", "SN-DKR-AIBD", "SN-KLK-ROAD", "SN-ZIG-PORT", "SN-TBA-ROAD")
MODES = (1, 1, 1, 4, 3)  # sea mostly, air, road
HS = ("1006300000", "8703231000", "6109100000", "3004900000", "2523290000", "8517130000", "0303890000", "2402200000")
LANES = ("green",) * 70 + ("blue",) * 5 + ("yellow",) * 15 + ("red",) * 10
BASES = ("policy.model.stream",) * 7 + ("policy.random",) * 2 + ("policy.profile",)
FIRST_DAY = date(2025, 1, 1)
H = timedelta(hours=1)


def build(path: Path, n: int, seed: int = 7) -> None:
    started = time.perf_counter()
    if path.exists():
        path.unlink()
    engine = make_engine(f"sqlite:///{path}")
    init_node(engine, "SN")
    rng = random.Random(seed)
    batch = 5000
    for first in range(1, n + 1, batch):
        decl_rows, item_rows, event_rows, hit_rows = [], [], [], []
        for i in range(first, min(first + batch, n + 1)):
            day = FIRST_DAY + timedelta(days=(i - 1) * 365 // n)
            lodged = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(6 * 60, 18 * 60))
            lane = rng.choice(LANES)
            office = rng.choice(OFFICES)
            duty = Decimal(rng.randrange(50_000, 5_000_000))
            arrived = lodged + timedelta(hours=rng.uniform(-12, 240))
            decl_rows.append(
                dict(
                    id=i, lrn=f"B-{i}", declarant_id="SN0012345A7", importer_id=f"SN{i % 900:07d}X", importer_name="Importer", office_code=office,
                    procedure_code="4000", transport_mode_code=rng.choice(MODES), estimated_arrival=arrived, registration_date=lodged.date(), lodged_at=lodged,
                    invoice_currency="USD", invoice_amount=duty * 3, currency="XOF", customs_value=duty * 4, duty_total=duty,
                    duties={"currency": "XOF", "lines": [], "total": str(duty)}, lane=lane, score=Decimal(f"{rng.random():.4f}"),
                    reasons=[{"code": rng.choice(BASES), "params": {}}], assessor="learned:bench", status="released", document={},
                )
            )
            item_rows.append(
                dict(
                    declaration_id=i, sequence=1, hs_code=rng.choice(HS), description="goods", origin_country="CN", procedure_code="4000", duty_regime="GEN",
                    net_mass=Decimal(1000), gross_mass=Decimal(1050), invoice_amount=duty * 3, customs_value=duty * 4, fob_value=duty * 3, duty_total=duty, duties={},
                )
            )
            events = [("lodged", lodged, {}), ("assessed", lodged, {"duty_total": str(duty), "currency": "XOF"}), ("lane_assigned", lodged, {"lane": lane}), ("arrived", arrived, {})]
            t = max(arrived, lodged)
            if lane in ("red", "yellow"):
                t += timedelta(hours=rng.expovariate(1 / 20))
                fraud = rng.random() < 0.2
                extra = Decimal(rng.randrange(10_000, 2_000_000)) if fraud else Decimal(0)
                events.append(("inspected", t, {"fraud_found": fraud, "fraud_kinds": ["undervaluation"] if fraud else [], "extra_duty": str(extra), "findings": None}))
                duty += extra
            t += timedelta(hours=rng.expovariate(1 / 6))
            events.append(("paid", t, {"amount": str(duty), "currency": "XOF"}))
            t += timedelta(hours=rng.expovariate(1 / (4 if lane in ("red", "yellow") else 0.5)))
            events.append(("released", t, {"automatic": lane in ("green", "blue")}))
            event_rows += [{"declaration_id": i, "kind": k, "at": at, "actor": "bench", "data": data} for k, at, data in events]
            if rng.random() < 0.15:
                hit_rows.append({"declaration_id": i, "profile_id": rng.choice(("TOBACCO", "HIGH-DUTY", "VEH-USED-EU")), "profile_version": 1, "lane": lane, "at": lodged})
        with engine.begin() as conn:
            conn.execute(insert(declarations), decl_rows)
            conn.execute(insert(goods_items), item_rows)
            conn.execute(insert(declaration_events), event_rows)
            if hit_rows:
                conn.execute(insert(risk_profile_hits), hit_rows)
        print(f"\r  built {min(first + batch - 1, n):,} declarations", end="", flush=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(f"\n  built in {time.perf_counter() - started:.0f} s: {path}")


def timed(run, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cold-repeats", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    path = ROOT / "var" / "bench" / f"dashboards-{args.declarations}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    if args.rebuild or not path.exists():
        build(path, args.declarations)
    engine = make_engine(f"sqlite:///{path}")
    year = (FIRST_DAY, FIRST_DAY + timedelta(days=364))
    month = (date(2025, 6, 1), date(2025, 6, 30))
    now = datetime(2026, 1, 10, tzinfo=timezone.utc)
    reports = {
        "release times, last 30 days by lane, weekly": lambda conn, cache: release_times(conn, ReleaseQuery(since=month[0], until=month[1], by=("lane",)), now=now, cache=cache),
        "release times, year by office, monthly": lambda conn, cache: release_times(conn, ReleaseQuery(since=year[0], until=year[1], by=("office",), period="month"), now=now, cache=cache),
        "lanes over time, year, weekly": lambda conn, cache: db.lanes_over_time(conn, db.DashboardQuery(since=year[0], until=year[1]), now=now, cache=cache),
        "revenue, year, monthly": lambda conn, cache: db.revenue(conn, db.DashboardQuery(since=year[0], until=year[1], period="month"), now=now, cache=cache),
        "hit rates, year": lambda conn, cache: db.hit_rates(conn, db.DashboardQuery(since=year[0], until=year[1]), now=now, cache=cache),
        "model precision, year, weekly": lambda conn, cache: db.model_precision(conn, db.DashboardQuery(since=year[0], until=year[1]), now=now, cache=cache),
    }
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, Python {platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}")
    print(f"{'report':48} {'cold p50':>9} {'cold p95':>9} {'warm p50':>9} {'warm p95':>9}  (ms)")
    with engine.connect() as conn:
        for name, run in reports.items():
            cold = timed(lambda run=run: run(conn, ReportCache()), args.cold_repeats)
            cache = ReportCache()
            run(conn, cache)
            warm = timed(lambda run=run, cache=cache: run(conn, cache), args.repeats)
            print(f"{name:48} {cold[0]:9.1f} {cold[1]:9.1f} {warm[0]:9.2f} {warm[1]:9.2f}")
    engine.dispose()


if __name__ == "__main__":
    main()
