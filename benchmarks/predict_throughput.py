"""`karl predict` end to end: read the candidate pool from DuckDB, score it with a recorded
10-member model version, append the predictions to raw.pair_predictions; pairs/s and memory.

Targets (issue 22, part 5): >= 500k pairs/s at 1M candidates; peak memory growth <= 200 MB
from 100k to 1M candidates (memory flat in the pool's size).

    .venv/bin/python benchmarks/predict_throughput.py [--sizes 100000,1000000] [--features char13|svd]
    .venv/bin/python benchmarks/predict_throughput.py --smoke      # 2,000 pairs, seconds

A synthetic warehouse in a temp folder: N_ITEMS items with item vectors (char13: sparse
TF-IDF-like rows, ~40 of 48k columns each, the default features; svd: dense unit vectors of 256),
a completed run with a recorded model version (random weights of the right shape: throughput does
not depend on their values), and marts.fct_candidate_pairs laid out like the sampler's (a query
item with 100 partners). After a warm-up at 2,000 pairs, each size: `prediction.predict.predict` (no dbt build: the marts are
timed by dbt) on a fresh pair_predictions table; then the same call again (nothing new to write:
the idempotent no-op). Peak memory is this process's RSS above its level before the call
(sampled every 5 ms). Wall and CPU seconds both shown: on a shared machine CPU seconds are the
steadier figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from peak_memory import PeakRss  # noqa: E402

from python_jobs.features.sparse import store_sparse_vectors  # noqa: E402
from python_jobs.features.vectors import store_item_vectors  # noqa: E402
from python_jobs.learning.scoring import DENSE_LAYOUT  # noqa: E402
from python_jobs.learning.scoring_sparse import PairLayout  # noqa: E402
from python_jobs.prediction.model_store import record_model_version  # noqa: E402
from python_jobs.prediction.predict import predict  # noqa: E402
from python_jobs.warehouse.raw_schema import create_raw_tables  # noqa: E402

TARGET_PAIRS_PER_SECOND = 500_000
TARGET_GROWTH_MB = 200
MEMBERS = 10
CLASSES = ["substitute", "complement", "other"]
RUN_ID = "bench-run"
STAMP = datetime(2026, 1, 1)


def _items(con: duckdb.DuckDBPyConnection, features: str, n_items: int, rng: np.random.Generator) -> int:
    """Item vectors of feature set 'bench'; returns the pair-feature width."""
    ids = [f"bench:{i:07d}" for i in range(n_items)]
    if features == "svd":
        dim = 256
        matrix = rng.standard_normal((n_items, dim)).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        store_item_vectors(con, "bench", ids, matrix)
        return DENSE_LAYOUT.n_features(dim)
    dim, nnz = 48_000, 40
    cols = np.sort(rng.choice(dim, size=(n_items, nnz), replace=True), axis=1)
    vals = rng.random((n_items, nnz)).astype(np.float32)
    matrix = sp.csr_matrix((vals.ravel(), cols.ravel(), np.arange(0, (n_items + 1) * nnz, nnz)), shape=(n_items, dim))
    matrix.sum_duplicates()
    matrix = sp.csr_matrix(matrix.multiply(1 / np.sqrt(matrix.multiply(matrix).sum(axis=1))))
    store_sparse_vectors(con, "bench", ids, matrix)
    return PairLayout().n_features(dim)


def setup(path: Path, features: str, n_items: int, max_pairs: int, seed: int = 0) -> tuple[duckdb.DuckDBPyConnection, str]:
    """The synthetic warehouse; returns the connection and the model version."""
    rng = np.random.default_rng(seed)
    con = duckdb.connect(str(path))
    create_raw_tables(con)
    n_features = _items(con, features, n_items, rng)
    con.execute("create schema if not exists marts")
    # what record_model_version reads (the labels a model trained on): none here
    con.execute("create table marts.fct_training_labels (training_label_id varchar, label_source varchar, "
                "run_id varchar, round_index integer)")
    con.execute("insert into raw.runs values (?, 'margin', 'replay', 0, 0, 10, '{}', ?)", [RUN_ID, STAMP])
    con.execute("insert into raw.run_steps values (?, 0, 'evaluate', 1.0, ?)", [RUN_ID, STAMP])
    weights = (rng.standard_normal((n_features, MEMBERS * len(CLASSES))) * 0.05).astype(np.float32)
    bias = rng.standard_normal(MEMBERS * len(CLASSES)).astype(np.float32)
    layout = DENSE_LAYOUT if features == "svd" else PairLayout()
    version = record_model_version(con, RUN_ID, 0, weights, bias, MEMBERS, CLASSES, features, {features: "bench"},
                                   layout, STAMP)
    # the sampler's layout: query item i with 100 partners, a fine category per 1,000 pairs
    con.execute(f"""
        create table bench_candidates as
        with pairs as (
            select range as n, (range // 100) % {n_items} as a,
                (range // 100 + 1 + (range % 100) * 7) % {n_items} as b
            from range({max_pairs})
        )
        select
            n,
            'bench:' || lpad(cast(least(a, b) as varchar), 7, '0') || '~bench:'
                || lpad(cast(greatest(a, b) as varchar), 7, '0') as pair_key,
            'bench:' || lpad(cast(a as varchar), 7, '0') as item_a_id,
            'bench:' || lpad(cast(b as varchar), 7, '0') as item_b_id,
            'fine ' || cast((n // 1000) % 368 as varchar) as fine_category
        from pairs
    """)
    return con, version


def measure(con: duckdb.DuckDBPyConnection, size: int) -> dict[str, float]:
    con.execute("create or replace table marts.fct_candidate_pairs as "
                f"select pair_key, item_a_id, item_b_id, fine_category from bench_candidates where n < {size}")
    con.execute("delete from raw.pair_predictions")
    con.execute("checkpoint")
    figures: dict[str, float] = {}
    for label in ("first", "again"):
        with PeakRss() as rss:
            wall, cpu = time.perf_counter(), time.process_time()
            summary = predict(con)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        expected = size if label == "first" else 0
        if summary.n_written != expected:
            raise SystemExit(f"{label}: wrote {summary.n_written} predictions, expected {expected}")
        figures |= {f"{label}_wall": wall, f"{label}_cpu": cpu, f"{label}_growth_mb": rss.growth_mb}
    (stored,) = con.execute("select count(*) from raw.pair_predictions").fetchone()
    if stored != size:
        raise SystemExit(f"raw.pair_predictions holds {stored} rows, expected {size}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="candidate pairs, comma-separated")
    parser.add_argument("--features", choices=("char13", "svd"), default="char13")
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--smoke", action="store_true", help="2,000 pairs over 500 items: seconds")
    args = parser.parse_args()
    sizes = [2_000] if args.smoke else [int(s) for s in args.sizes.split(",")]
    n_items = 500 if args.smoke else args.items
    with tempfile.TemporaryDirectory(prefix="karl_bench_predict_") as tmp:
        con, version = setup(Path(tmp) / "predict.duckdb", args.features, n_items, max(sizes))
        print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; {args.features} features, "
              f"{MEMBERS} members, {n_items:,} items; model {version}")
        print(f"{'pairs':>10} | {'pairs/s':>10} {'per CPU-s':>10} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} | "
              f"again: {'wall s':>7} {'peak MB':>8}")
        results = {}
        if not args.smoke:
            measure(con, 2_000)  # warm-up, not shown: the sparse kernel's compile, first reads
        for size in sizes:
            f = measure(con, size)
            results[size] = f
            print(f"{size:>10,} | {size / f['first_wall']:>10,.0f} {size / f['first_cpu']:>10,.0f} "
                  f"{f['first_wall']:>7.2f} {f['first_cpu']:>7.2f} {f['first_growth_mb']:>8.0f} | "
                  f"again: {f['again_wall']:>7.2f} {f['again_growth_mb']:>8.0f}")
        con.close()
    if len(sizes) > 1:
        small, large = results[min(sizes)], results[max(sizes)]
        rate = max(sizes) / large["first_wall"]
        growth = large["first_growth_mb"] - small["first_growth_mb"]
        print(f"target: >= {TARGET_PAIRS_PER_SECOND:,} pairs/s at {max(sizes):,}: {rate:,.0f} "
              f"({'met' if rate >= TARGET_PAIRS_PER_SECOND else 'NOT met'}); peak growth from {min(sizes):,} to "
              f"{max(sizes):,} <= {TARGET_GROWTH_MB} MB: {growth:+.0f} MB "
              f"({'met' if growth <= TARGET_GROWTH_MB else 'NOT met'})")


if __name__ == "__main__":
    main()
