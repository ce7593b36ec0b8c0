"""The same run on both engines: `karl run` and `karl --engine spark run` with the same seed on two
copies of one warehouse, then the pairs each round selected (with their uncertainty) and the
labels it accepted, compared (issue 16).

    .venv/bin/python benchmarks/spark_run_parity.py --db WAREHOUSE.duckdb [--rounds 3]
        [--annotator simulated] [--candidate-source sampler] [--budget 50] [--seed 0]
        [--members 10] [--tuning-trials 12]

WAREHOUSE: a built warehouse, e.g. after `karl ingest fbl`, `karl ingest completejourney`,
`karl build` (The Complete Journey with the simulated annotator, whose truth is the baskets' lift
labels). The copies live in a temporary folder; the original is not touched. Prints the wall time
of each run and, per round, the selected pairs that differ and the largest uncertainty difference.

Measured on The Complete Journey (margin, simulated, sampler, budget 50, seed 0, 3 rounds): every
round's 50 pairs the same with uncertainties equal to the bit, the same 143 accepted labels; the
Spark run took 215 s at load 4.3 (the DuckDB run 2,302 s at load 11-22: not comparable).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

PROJECT = Path(__file__).resolve().parents[1]


def run(db: Path, engine: str, args: argparse.Namespace, workdir: Path) -> float:
    env = dict(os.environ, KARL_DUCKDB_PATH=str(db), KARL_DBT_TARGET_PATH=str(workdir / f"target_{engine}"),
               KARL_SPARK_WAREHOUSE_DIR=str(workdir / "spark"), PYTHONPATH=str(PROJECT))
    command = [sys.executable, "-m", "python_jobs.cli", "--quiet", "--engine", engine, "run",
               "--strategy", args.strategy, "--rounds", str(args.rounds), "--annotator", args.annotator,
               "--candidate-source", args.candidate_source, "--budget", str(args.budget), "--seed", str(args.seed),
               "--run-id", "parity", "--workers", "1", "--members", str(args.members),
               "--tuning-trials", str(args.tuning_trials)]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, cwd=PROJECT)
    return time.perf_counter() - started


def picks(db: Path) -> dict[int, dict[str, float]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select round_index, pair_key, uncertainty_score from raw.selections "
                           "where run_id = 'parity'").fetchall()
    out: dict[int, dict[str, float]] = {}
    for round_index, key, score in rows:
        out.setdefault(round_index, {})[key] = score
    return out


def accepted(db: Path) -> set[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return set(con.execute("select round_index, pair_key, relation_label from marts.fct_consensus_labels "
                               "where run_id = 'parity' and is_accepted").fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--annotator", default="simulated")
    parser.add_argument("--candidate-source", default="sampler")
    parser.add_argument("--strategy", default="margin")
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--members", type=int, default=10, help="bagging members (karl run's default)")
    parser.add_argument("--tuning-trials", type=int, default=12, help="hyperparameter trials (karl run's default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="karl_parity_") as tmp:
        workdir = Path(tmp)
        seconds = {}
        for engine in ("duckdb", "spark"):
            shutil.copy(args.db, workdir / f"{engine}.duckdb")
            seconds[engine] = run(workdir / f"{engine}.duckdb", engine, args, workdir)
            print(f"{engine}: {seconds[engine]:.0f} s wall, load {os.getloadavg()[0]:.1f}", flush=True)
        ours, theirs = picks(workdir / "spark.duckdb"), picks(workdir / "duckdb.duckdb")
        for round_index in sorted(set(ours) | set(theirs)):
            a, b = ours.get(round_index, {}), theirs.get(round_index, {})
            shared = set(a) & set(b)
            gap = max((abs(a[k] - b[k]) for k in shared), default=0.0)
            print(f"round {round_index}: {len(b)} pairs selected on DuckDB, {len(a)} on Spark, "
                  f"{len(set(a) ^ set(b))} differ; largest uncertainty difference {gap:.2e}")
        same = accepted(workdir / "spark.duckdb") == accepted(workdir / "duckdb.duckdb")
        print(f"accepted labels: {len(accepted(workdir / 'duckdb.duckdb'))} on DuckDB, "
              f"{'the same' if same else 'DIFFERENT'} on Spark")


if __name__ == "__main__":
    main()
