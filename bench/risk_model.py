"""Learned scorer benchmark on KCS rows (resampled to reach the sizes), reproducible:

    .venv/bin/python bench/risk_model.py [--fit-rows 50000] [--score-rows 200000] [--lodgings 2000]

Prints:
- fitting N rows with the default options (the holdout fit included, as ``avance model fit``
  does): seconds and the peak resident memory of the fitting process (a child process, so that
  the figure is its own; LightGBM allocates outside Python's tracemalloc);
- batch scoring: items/s of ``RiskModel.score`` on M rows (encoding included), and of the whole
  ``avance model score`` path (CSV reading, encoding, scoring, writing);
- one lodging (1 to 3 items): ``assess_records`` (score + top-3 reasons) latency p50/p99;
- the KCS figures of the model trained on 2020 and evaluated on January-March 2021.
Rows are drawn with a fixed seed from df_syn_train_eng.csv; ids are made unique.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KCS = Path(os.environ.get("AVANCE_KCS_DIR", ROOT.parent / "shared" / "data" / "kcs_customs_declarations_2022"))
MAPPING = ROOT / "examples" / "mappings" / "kcs.yaml"

FIT_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np
from avance.risk.learning.frame import load_mapping, read_csv
from avance.risk.learning.model import fit

kcs, mapping, rows = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
frame = read_csv([kcs / "df_syn_train_eng.csv"], load_mapping(mapping), labels=True)
rng = np.random.default_rng(20260601)
sample = frame.iloc[np.sort(rng.integers(0, len(frame), rows))].reset_index(drop=True)
sample["id"] = [f"R{i}" for i in range(rows)]
sample["declaration"] = sample["id"]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
model = fit(sample)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak / 1024, "before_fit_mb": before / 1024, "metrics": model.metadata["metrics"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit-rows", type=int, default=50_000)
    parser.add_argument("--score-rows", type=int, default=200_000)
    parser.add_argument("--lodgings", type=int, default=2000)
    args = parser.parse_args()
    if not (KCS / "df_syn_train_eng.csv").is_file():
        sys.exit(f"KCS data not found in {KCS} (set AVANCE_KCS_DIR)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")

    # 1. fitting, in a child process (its own peak memory)
    result = subprocess.run([sys.executable, "-c", FIT_CHILD, str(KCS), str(MAPPING), str(args.fit_rows)], capture_output=True, text=True, check=True)
    fitted = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"fit {fitted['rows']:,} rows (default options, holdout fit included): {fitted['seconds']:.1f} s, peak RSS {fitted['peak_mb']:.0f} MB (of which {fitted['before_fit_mb']:.0f} MB before fitting)")

    import numpy as np

    from avance.risk.learning.frame import load_mapping, read_csv
    from avance.risk.learning.model import RiskModel, auc, fit, precision_at

    mapping = load_mapping(MAPPING)
    train = read_csv([KCS / "df_syn_train_eng.csv"], mapping, labels=True)
    valid = read_csv([KCS / "df_syn_valid_eng.csv"], mapping, labels=True)

    # 2. KCS: train 2020, evaluate January-March 2021 (history frozen at the end of 2020)
    started = time.perf_counter()
    model = fit(train)
    seconds = time.perf_counter() - started
    y = valid["fraud"].to_numpy()
    scores = model.score(valid.drop(columns=["fraud"])).fraud
    figures = ", ".join(f"{round(r * 100)}%: {precision_at(y, scores, r):.3f}" for r in (0.01, 0.02, 0.05, 0.10))
    print(f"KCS train 2020 ({len(train):,} rows, fit {seconds:.1f} s) -> Jan-Mar 2021 ({len(valid):,} rows): precision at {figures}; AUC {auc(y, scores):.3f}")

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model")
        started = time.perf_counter()
        model = RiskModel.load(Path(tmp) / "model")
        print(f"load + warm: {time.perf_counter() - started:.2f} s")

        # 3. batch scoring
        rng = np.random.default_rng(7)
        pool = valid.drop(columns=["fraud"])
        big = pool.iloc[rng.integers(0, len(pool), args.score_rows)].reset_index(drop=True)
        big["id"] = [f"S{i}" for i in range(len(big))]
        model.score(big.iloc[:1000])
        started = time.perf_counter()
        model.score(big)
        seconds = time.perf_counter() - started
        print(f"batch scoring {len(big):,} rows (RiskModel.score): {seconds:.2f} s, {len(big) / seconds:,.0f} items/s")
        raw = read_raw(KCS / "df_syn_valid_eng.csv")
        csv_path = Path(tmp) / "big.csv"
        sampled = raw.iloc[rng.integers(0, len(raw), args.score_rows)].drop(columns=["Fraud", "Critical Fraud"])
        sampled["Declaration ID"] = range(len(sampled))
        sampled.to_csv(csv_path, index=False)
        env = {**os.environ, "AVANCE_LANG": "en", "AVANCE_DATA_DIR": tmp}
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "avance", "model", "score", "--model", str(Path(tmp) / "model"), "--data", str(csv_path), "--mapping", str(MAPPING), "--out", str(Path(tmp) / "scores.csv")], check=True, env=env, capture_output=True)
        seconds = time.perf_counter() - started
        print(f"avance model score on a {len(sampled):,}-row CSV (process start, read, score, write): {seconds:.2f} s, {len(sampled) / seconds:,.0f} items/s")

        # 4. one lodging at a time
        records = pool.drop(columns=["date"]).to_dict("records")
        sizes = rng.integers(1, 4, args.lodgings)
        starts = rng.integers(0, len(records) - 3, args.lodgings)
        for i in range(50):
            model.assess_records(records[starts[i] : starts[i] + sizes[i]])
        latencies = []
        for start, size in zip(starts, sizes):
            batch = records[start : start + size]
            t0 = time.perf_counter()
            model.assess_records(batch, top=3)
            latencies.append(time.perf_counter() - t0)
        ms = np.array(latencies) * 1000
        print(f"one lodging of 1-3 items, score + 3 reasons (assess_records), {args.lodgings} lodgings: p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms")


def read_raw(path: Path):
    import pandas as pd

    return pd.read_csv(path, dtype=str, keep_default_na=False)


if __name__ == "__main__":
    main()
