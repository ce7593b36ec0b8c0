"""Each round's select step of a finished run, redone on both engines (issue 16): the round's
ensemble refitted as the loop fits it (same seed, hyperparameters, warm start, training labels of
earlier rounds), the pool the round saw (the candidate mart minus the run's earlier selections)
scored in-process over DuckDB and as a Spark job, and the kept pairs compared with each other and
with the selections the run recorded.

    .venv/bin/python benchmarks/spark_select_parity.py WAREHOUSE.duckdb [RUN_ID]

(a copy of a warehouse holding the run: the candidate pool is rebuilt in it). Measured on The
Complete Journey (3 rounds, margin, simulated, seed 0, 297k candidates, char13, load 9-10): every
round's 339 kept pairs in the same order with uncertainties equal to the bit, and the 50 picks
equal to the run's recorded selections; the scan took 2.0-3.4 s in-process, 7.8-12.2 s on Spark
local[2] (57 s in round 0 with the session's start).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from python_jobs import warehouse  # noqa: E402
from python_jobs.features.sets import stack_rows  # noqa: E402
from python_jobs.learning import acquisition, scoring  # noqa: E402
from python_jobs.learning.ensemble import BaggedEnsemble  # noqa: E402
from python_jobs.loop.run_store import load_run_config  # noqa: E402
from python_jobs.loop.runner import Orchestrator  # noqa: E402
from python_jobs.spark.scoring import score_duckdb_candidates_on_spark  # noqa: E402
from python_jobs.spark.session import stop_spark_session  # noqa: E402

POOL_SQL = ("select pair_key, item_a_id, item_b_id, fine_category from marts.fct_candidate_pairs "
            "where pair_key not in (select pair_key from raw.selections where run_id = ? and round_index < ?)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path, help="a warehouse holding the run (its candidate pool is rebuilt)")
    parser.add_argument("run_id", nargs="?", default="parity")
    args = parser.parse_args(argv)
    if not args.warehouse.exists():
        parser.error(f"no warehouse at {args.warehouse}")
    db, run_id = args.warehouse, args.run_id
    from pyspark.sql import SparkSession

    shared = SparkSession.getActiveSession()  # a caller's session (a test's): used, left running
    con = warehouse.connect(db)
    config = load_run_config(con, run_id)
    run = Orchestrator(con, config, show_progress=False, log=print)
    started = time.perf_counter()
    run.prepare()
    print(f"prepare {time.perf_counter() - started:.1f} s", flush=True)
    vectors, layout = run.pair_features.scan_kernel()
    round0 = None
    for r in range(config.rounds):
        x_h, y_h, x_a, y_a = run.training_arrays(r)
        ensemble = BaggedEnsemble(n_members=config.members, hyperparameters=run.hyperparameters,
                                  seed=config.seed * 1000 + r)
        ensemble.fit(stack_rows([x_h, x_a]), np.concatenate([y_h, y_a]), warm_start=None if r == 0 else round0)
        if r == 0:
            round0 = (ensemble.coef_, ensemble.intercept_)
        weights, bias = ensemble.stacked_weights()
        uncertainty = acquisition.strategy_uncertainty(config.strategy, config.seed * 1000 + r, config.qbc_measure)
        params = [config.run_id, r]
        started = time.perf_counter()
        kept_duckdb, n_duckdb = scoring.score_candidates(con, POOL_SQL, weights, bias, config.members, vectors,
                                                         uncertainty, config=config.scoring, params=params,
                                                         layout=layout)
        seconds_duckdb, started = time.perf_counter() - started, time.perf_counter()
        kept_spark, n_spark = score_duckdb_candidates_on_spark(con, POOL_SQL, params, weights, bias, config.members,
                                                               vectors, uncertainty, config=config.scoring,
                                                               layout=layout)
        seconds_spark = time.perf_counter() - started
        recorded = {key for (key,) in con.execute("select pair_key from raw.selections where run_id = ? "
                                                  "and round_index = ?", params).fetchall()}
        picks_duckdb = [k["pair_key"] for k in kept_duckdb[: config.budget]]
        picks_spark = [k["pair_key"] for k in kept_spark[: config.budget]]
        gap = max((abs(a["uncertainty_score"] - b["uncertainty_score"]) for a, b in zip(kept_duckdb, kept_spark)),
                  default=0.0)
        same_order = [k["pair_key"] for k in kept_duckdb] == [k["pair_key"] for k in kept_spark]
        print(f"round {r}: scored {n_duckdb:,} (duckdb {seconds_duckdb:.1f} s) / {n_spark:,} (spark "
              f"{seconds_spark:.1f} s); kept {len(kept_duckdb)} / {len(kept_spark)}; same order of kept: "
              f"{same_order}; max |uncertainty diff| {gap:.2e}; spark picks == duckdb re-run picks: "
              f"{picks_spark == picks_duckdb}; == the run's recorded selections: {set(picks_spark) == recorded} "
              f"({len(recorded)} recorded); load {os.getloadavg()[0]:.1f}", flush=True)
    con.close()
    if shared is None:
        stop_spark_session()


if __name__ == "__main__":
    main()
