"""Candidate scoring as a Spark job (python_jobs/spark/scoring.py) against the DuckDB scan
(learning/scoring.score_candidates) on the same candidates, weights and item vectors: the same
pairs, the same uncertainties and mean probabilities (to float tolerance), the same count."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from python_jobs.config import ScoringConfig
from python_jobs.features.vectors import ItemVectors
from python_jobs.learning.acquisition import strategy_uncertainty
from python_jobs.learning.scoring import score_candidates
from python_jobs.learning.scoring_sparse import PairLayout
from python_jobs.learning.stacked_linear import FLOAT32_TOLERANCE
from python_jobs.spark.scoring import score_candidates_spark, top_per_category

# Selected with `pytest -m spark` (the marker is registered in pyproject.toml).
pytestmark = pytest.mark.spark

N_ITEMS, DIM, M, C = 400, 600, 10, 3
N_PAIRS, N_FINE = 30_000, 60
CHUNK = ScoringConfig(chunk_rows=4_096, workers=2)


def _items(sparse: bool, seed: int = 0) -> ItemVectors:
    rng = np.random.default_rng(seed)
    ids = [f"shop:{i:05d}" for i in range(N_ITEMS)]
    if sparse:  # TF-IDF-like: non-negative, L2-normalised rows
        matrix = sp.random(N_ITEMS, DIM, density=0.05, random_state=seed, dtype=np.float64, format="csr")
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        matrix = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ matrix
        return ItemVectors(ids, matrix)
    dense = rng.standard_normal((N_ITEMS, 32)).astype(np.float32)
    return ItemVectors(ids, dense / np.linalg.norm(dense, axis=1, keepdims=True))


def _pool(seed: int = 1, n_extra: int = 0) -> pa.Table:
    """Query-major pairs like the sampler's: each query item with 50 partners, in N_FINE categories;
    a few pairs name an item without a vector (dropped by both engines)."""
    rng = np.random.default_rng(seed)
    a = np.repeat(rng.integers(0, N_ITEMS, N_PAIRS // 50), 50)
    b = rng.integers(0, N_ITEMS, len(a))
    b = np.where(b == a, (b + 1) % N_ITEMS, b)
    ids_a = np.array([f"shop:{i:05d}" for i in a], dtype=object)
    ids_b = np.array([f"shop:{i:05d}" for i in b], dtype=object)
    ids_b[::997] = "shop:missing"
    columns = {
        "pair_key": [f"{x}~{y}~{n}" for n, (x, y) in enumerate(zip(ids_a, ids_b))],
        "item_a_id": ids_a.tolist(), "item_b_id": ids_b.tolist(),
        "fine_category": [f"fine {i % N_FINE:02d}" for i in a],
    }
    for k in range(n_extra):
        columns[f"o{k}"] = rng.random(len(a)).astype(np.float32)
    return pa.table(columns)


def _weights(n_features: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_features, M * C)) * 0.5, rng.standard_normal(M * C) * 0.1


def _duckdb_scan(pool: pa.Table, *args, **kwargs) -> tuple[list[dict], int]:
    con = duckdb.connect()
    try:
        con.register("pool", pool)
        extra = "".join(f", {name}" for name in kwargs.get("extra_columns", ()))
        sql = f"select pair_key, item_a_id, item_b_id, fine_category{extra} from pool"
        return score_candidates(con, sql, *args, **kwargs)
    finally:
        con.close()


def _assert_same_picks(spark_rows: list[dict], duckdb_rows: list[dict], tolerance: float) -> None:
    assert [r["pair_key"] for r in spark_rows] == [r["pair_key"] for r in duckdb_rows]
    for ours, theirs in zip(spark_rows, duckdb_rows):
        assert (ours["item_a_id"], ours["item_b_id"], ours["fine_category"]) == \
            (theirs["item_a_id"], theirs["item_b_id"], theirs["fine_category"])
        assert ours["uncertainty_score"] == pytest.approx(theirs["uncertainty_score"], abs=tolerance)
        np.testing.assert_allclose(ours["mean_proba"], theirs["mean_proba"], rtol=0, atol=tolerance)


@pytest.mark.parametrize("strategy, per_category", [("margin", 1), ("qbc", 1), ("random", 1), ("margin", 5)])
def test_spark_scoring_picks_the_duckdb_scans_pairs_with_its_uncertainties_on_sparse_vectors(
        spark, strategy: str, per_category: int) -> None:
    vectors = _items(sparse=True)
    layout = PairLayout(("absdiff", "prod", "cos"))
    weights, bias = _weights(layout.n_features(DIM))
    pool = _pool()
    uncertainty = strategy_uncertainty(strategy, seed=7)
    expected, n_expected = _duckdb_scan(pool, weights, bias, M, vectors, uncertainty, per_category=per_category,
                                        config=CHUNK, layout=layout)
    # Two partitions: the pool split across both cores, and batches that do not match DuckDB's chunks.
    candidates = spark.createDataFrame(pool).repartition(2)
    kept, n_scored = score_candidates_spark(candidates, weights, bias, M, vectors, uncertainty,
                                            per_category=per_category, config=CHUNK, layout=layout)
    assert n_scored == n_expected == N_PAIRS - len(range(0, N_PAIRS, 997))
    assert len(kept) == N_FINE * per_category
    # The sparse kernel gives a pair the same bits however the pool is batched.
    _assert_same_picks(kept, expected, tolerance=1e-12)


def test_spark_scoring_matches_the_duckdb_scan_on_dense_vectors_with_extra_pair_columns(spark) -> None:
    vectors = _items(sparse=False)
    layout = PairLayout(("absdiff", "prod", "cos", "sum"), n_extra=3)
    weights, bias = _weights(3 * vectors.dim + 1 + 3, seed=3)
    pool = _pool(seed=4, n_extra=3)
    uncertainty = strategy_uncertainty("margin")
    extra = ("o0", "o1", "o2")
    expected, n_expected = _duckdb_scan(pool, weights, bias, M, vectors, uncertainty, config=CHUNK,
                                        layout=layout, extra_columns=extra)
    kept, n_scored = score_candidates_spark(spark.createDataFrame(pool), weights, bias, M, vectors, uncertainty,
                                            config=CHUNK, layout=layout, extra_columns=extra)
    assert n_scored == n_expected
    # float32 GEMM tiles round by batch alignment: ~5e-8 apart, far inside the scorer's tolerance.
    _assert_same_picks(kept, expected, tolerance=FLOAT32_TOLERANCE)


def test_top_per_category_window_keeps_the_highest_score_and_breaks_ties_by_the_smaller_pair_key(spark) -> None:
    frame = spark.createDataFrame(pa.table({
        "pair_key": ["b", "a", "c", "d", "e"],
        "fine_category": ["x", "x", "x", "y", "y"],
        "uncertainty_score": [0.9, 0.9, 0.5, 0.1, 0.2],
    }))
    kept = top_per_category(frame, 1).orderBy("fine_category").toArrow().to_pylist()
    assert [(row["fine_category"], row["pair_key"]) for row in kept] == [("x", "a"), ("y", "e")]
