"""A run on `--engine spark` leaves its lineage in Spark (issue 16): `karl --engine spark run` on a
copy of a DuckDB warehouse whose Spark twin is loaded and built, optionally killed with kill -9
during a round and resumed, then the run's raw rows and accepted labels compared between the
DuckDB journal and Spark (raw tables, marts.fct_consensus_labels, fct_training_labels, fct_label_lineage).

    .venv/bin/python benchmarks/spark_run_mirror.py --db WAREHOUSE.duckdb --spark-dir SPARK_DIR
        [--run-id ID] [--kill-at 'round 1: annotate'] [--rounds 3] [--annotator simulated]
        [--candidate-source sampler] [--budget 50] [--seed 0] [--members 10] [--tuning-trials 12]

SPARK_DIR: the Spark warehouse of WAREHOUSE (`KARL_SPARK_WAREHOUSE_DIR=SPARK_DIR KARL_DUCKDB_PATH=WAREHOUSE
karl --engine spark ingest sync` then `karl --engine spark build`); the run adds to
it. The DuckDB file is copied next to it first (the original is not touched). Prints the run's
wall time and its Spark lines (rows published, seconds, the closing Spark build), then per raw
table the run's rows in DuckDB and in Spark, and whether the accepted labels agree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from python_jobs.warehouse.raw_mirror import RUN_TABLES

LABELS = ("select round_index, pair_key, relation_label from marts.fct_consensus_labels "
          "where run_id = '{run}' and is_accepted")
TRAINING = "select pair_key, relation_label from marts.fct_training_labels where run_id = '{run}'"
LINEAGE = "select count(*) from marts.fct_label_lineage where run_id = '{run}'"


def karl(db: Path, spark_dir: Path, args: list[str], kill_at: str | None = None) -> tuple[float, str, bool]:
    """Run karl; with kill_at, kill -9 it once its progress file shows that step under way."""
    env = dict(os.environ, KARL_DUCKDB_PATH=str(db), KARL_SPARK_WAREHOUSE_DIR=str(spark_dir),
               PYTHONPATH=str(PROJECT))
    command = [sys.executable, "-m", "python_jobs.cli", "--log-format", "json", "--engine", "spark", *args]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    killed = False
    if kill_at:
        progress = db.with_name(db.name + ".runs") / f"{args[args.index('--run-id') + 1]}.json"
        while process.poll() is None:
            try:
                if json.loads(progress.read_text()).get("current") == kill_at:
                    process.send_signal(signal.SIGKILL)
                    killed = True
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
    output, _ = process.communicate()
    return time.perf_counter() - started, output, killed


def spark_lines(output: str) -> list[str]:
    lines = []
    for line in output.splitlines():
        try:
            message = json.loads(line).get("message", "")
        except ValueError:
            continue
        if str(message).startswith("Spark:"):
            lines.append(message)
    return lines


def compare_in_subprocess(db: Path, spark_dir: Path, run_id: str) -> bool:
    """`compare` in a process of its own: a stopped SparkSession leaves its JVM holding the local
    metastore (Derby), which a karl started after it could not open."""
    result = subprocess.run([sys.executable, __file__, "--compare-only", "--db", str(db), "--spark-dir",
                             str(spark_dir), "--run-id", run_id], capture_output=True, text=True, check=False)
    print("\n".join(line for line in result.stdout.splitlines()), flush=True)
    return result.returncode == 0


def compare(db: Path, spark_dir: Path, run_id: str) -> bool:
    os.environ["KARL_SPARK_WAREHOUSE_DIR"] = str(spark_dir)
    from python_jobs.spark.session import spark_session, stop_spark_session

    spark = spark_session()
    same = True
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            for table in RUN_TABLES:
                keys = ", ".join(table.key)
                ours = sorted(con.execute(f"select {keys} from raw.{table.name} where run_id = ?", [run_id]).fetchall())
                theirs = sorted(tuple(row) for row in spark.sql(
                    f"select {keys} from raw.{table.name} where run_id = '{run_id}'").collect())
                print(f"raw.{table.name:<18} DuckDB {len(ours):>6,}  Spark {len(theirs):>6,}  "
                      f"{'same keys' if ours == theirs else 'DIFFERENT'}")
                same &= ours == theirs
            for name, sql in (("accepted labels (fct_consensus_labels)", LABELS),
                              ("llm training labels (fct_training_labels)", TRAINING)):
                ours = sorted(con.execute(sql.format(run=run_id)).fetchall())
                theirs = sorted(tuple(row) for row in spark.sql(sql.format(run=run_id)).collect())
                print(f"{name}: DuckDB {len(ours)}, Spark {len(theirs)}, {'the same' if ours == theirs else 'DIFFERENT'}")
                same &= ours == theirs
            print(f"fct_label_lineage rows of the run: DuckDB {con.execute(LINEAGE.format(run=run_id)).fetchone()[0]}, "
                  f"Spark {spark.sql(LINEAGE.format(run=run_id)).collect()[0][0]}")
    finally:
        stop_spark_session()
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--spark-dir", type=Path, required=True)
    parser.add_argument("--run-id", default="spark-mirror")
    parser.add_argument("--kill-at", default=None, help="e.g. 'round 1: annotate' (kill -9, then --resume)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--annotator", default="simulated")
    parser.add_argument("--candidate-source", default="sampler")
    parser.add_argument("--strategy", default="margin")
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--members", type=int, default=10, help="bagging members (karl run's default)")
    parser.add_argument("--tuning-trials", type=int, default=12, help="hyperparameter trials (karl run's default)")
    parser.add_argument("--compare-only", action="store_true", help="only compare DB's run with Spark")
    args = parser.parse_args()
    if args.compare_only:
        raise SystemExit(0 if compare(args.db, args.spark_dir, args.run_id) else 1)
    db = args.spark_dir.parent / f"{args.run_id}.duckdb"
    shutil.copy(args.db, db)
    run = ["run", "--strategy", args.strategy, "--rounds", str(args.rounds), "--annotator", args.annotator,
           "--candidate-source", args.candidate_source, "--budget", str(args.budget), "--seed", str(args.seed),
           "--run-id", args.run_id, "--workers", "1", "--members", str(args.members),
           "--tuning-trials", str(args.tuning_trials)]
    seconds, output, killed = karl(db, args.spark_dir, run, args.kill_at)
    print(f"run: {seconds:.0f} s wall{', killed -9 at ' + args.kill_at if killed else ''}, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    if killed:
        print("before the resume:")
        compare_in_subprocess(db, args.spark_dir, args.run_id)
        seconds, output, _ = karl(db, args.spark_dir, ["run", "--resume", args.run_id])
        print(f"resume: {seconds:.0f} s wall, load {os.getloadavg()[0]:.1f}")
    if "run_done" not in output:
        print(output[-3000:])
    for line in spark_lines(output):
        print(line)
    print("after the run:" if not killed else "after the resume:")
    print("Spark holds exactly the run's rows and labels" if compare_in_subprocess(db, args.spark_dir, args.run_id)
          else "Spark and DuckDB DIFFER")


if __name__ == "__main__":
    main()
