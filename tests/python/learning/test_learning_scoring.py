"""The chunked scorer against the model's own predict_member_proba, the streaming top-per-category
reducer against a brute-force selection, and the induced categories' determinism."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from python_jobs.candidates.categories import induce_clusters
from python_jobs.config import InducedConfig
from python_jobs.features.pairs import pair_features
from python_jobs.features.vectors import ItemVectors, load_item_vectors
from python_jobs.learning import acquisition
from python_jobs.learning.acquisition import strategy_uncertainty
from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.learning.scoring import (
    ScoringConfig,
    score_candidate_frame,
    score_candidates,
)
from python_jobs.learning.stacked_linear import FLOAT32_TOLERANCE, StackedLinearScorer
from python_jobs.warehouse.raw_schema import create_raw_tables

N_ITEMS, DIM = 300, 24


def _vectors(unit: bool, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((N_ITEMS, DIM)).astype(np.float32)
    if unit:
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def _ids() -> np.ndarray:
    return np.array([f"item:{i:04d}" for i in range(N_ITEMS)], dtype=object)


def _fitted_ensemble(matrix: np.ndarray, seed: int = 0) -> BaggedEnsemble:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, N_ITEMS, 900), rng.integers(0, N_ITEMS, 900)
    X = pair_features(matrix[a], matrix[b])
    # A learnable rule plus noise, so the members differ from each other and from uniform.
    score = X[:, 2 * DIM] + 0.3 * rng.standard_normal(900)
    y = np.where(score > 0.15, 0, np.where(score < -0.15, 2, 1))
    return BaggedEnsemble(n_members=10, seed=seed).fit(X, y)


@pytest.mark.parametrize(("unit", "dtype", "tolerance"), [
    (True, "float64", 1e-6), (False, "float64", 1e-6),
    (True, "float32", FLOAT32_TOLERANCE), (False, "float32", FLOAT32_TOLERANCE),
], ids=["unit_vectors", "raw_vectors", "unit_vectors_float32", "raw_vectors_float32"])
def test_scorer_reproduces_predict_member_proba(unit: bool, dtype: str, tolerance: float) -> None:
    matrix = _vectors(unit)
    ensemble = _fitted_ensemble(matrix)
    W, b = ensemble.stacked_weights()
    scorer = StackedLinearScorer.from_weights(W, b, ItemVectors(_ids(), matrix), n_members=10, dtype=dtype)
    assert (scorer.w_cos is None) == unit  # unit vectors fold cos into the a*b block

    rng = np.random.default_rng(1)
    a, b = rng.integers(0, N_ITEMS, 5000), rng.integers(0, N_ITEMS, 5000)
    got = scorer.member_proba(a, b)
    expected = ensemble.predict_member_proba(pair_features(matrix[a], matrix[b]))
    assert got.shape == expected.shape == (10, 5000, 3)
    np.testing.assert_allclose(got, expected, atol=tolerance, rtol=0)
    # The members really differ, so the comparison covers the per-member layout.
    assert np.abs(expected[0] - expected[1]).max() > 1e-3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_of_extreme_logits_is_finite_and_exact(dtype: str) -> None:
    from python_jobs.learning.logreg import softmax
    from python_jobs.learning.stacked_linear import _softmax_relative

    # Relative logits of 2 classes x 2 members, up to far beyond what float32's exp can hold.
    relative = np.array([[0.0, 5.0, -3.0, 2.0], [500.0, -500.0, 90.0, 89.0], [-1e4, -1e4, 1e4, 0.0]])
    got = _softmax_relative(relative.astype(dtype), n_classes=3, n_members=2)
    full = np.concatenate([np.zeros((3, 1, 2)), relative.reshape(3, 2, 2)], axis=1)  # class 0 = 0
    expected = softmax(full, axis=1)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)


def test_score_candidate_frame_matches_the_ensemble() -> None:
    matrix = _vectors(unit=True)
    ensemble = _fitted_ensemble(matrix)
    ids = _ids()
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, N_ITEMS, 700), rng.integers(0, N_ITEMS, 700)
    frame = pd.DataFrame({"item_a_id": ids[a], "item_b_id": ids[b]})
    got = score_candidate_frame(ensemble, ItemVectors(list(ids), matrix), frame, ScoringConfig(chunk_rows=128))
    np.testing.assert_allclose(got, ensemble.predict_member_proba(pair_features(matrix[a], matrix[b])), atol=1e-5)


@pytest.fixture()
def candidate_db(tmp_path) -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame, np.ndarray]:
    matrix = _vectors(unit=True)
    ids = _ids()
    con = duckdb.connect(str(tmp_path / "scoring.duckdb"))
    create_raw_tables(con)
    vectors = pd.DataFrame({"feature_set": "test", "item_id": ids, "vector": list(matrix.astype(np.float64))})
    con.register("v", vectors)
    con.execute("insert into raw.item_vectors select feature_set, item_id, vector, ? from v", [datetime(2026, 1, 1)])
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, N_ITEMS, 3000), rng.integers(0, N_ITEMS, 3000)
    keep = a != b
    pairs = pd.DataFrame({"item_a_id": ids[a[keep]], "item_b_id": ids[b[keep]]})
    pairs["pair_key"] = [min(x, y) + "~" + max(x, y) for x, y in zip(pairs.item_a_id, pairs.item_b_id)]
    pairs = pairs.drop_duplicates("pair_key").reset_index(drop=True)
    pairs["fine_category"] = [f"cat{i % 17:02d}" for i in range(len(pairs))]
    con.register("p", pairs)
    con.execute("create table candidates as select * from p")
    yield con, pairs, matrix
    con.close()


def _scan_inputs(candidate_db):  # noqa: ANN001, ANN202
    """(con, pairs, matrix, fitted ensemble, stacked W, b, the scorer's item vectors)."""
    con, pairs, matrix = candidate_db
    ensemble = _fitted_ensemble(matrix)
    W, b = ensemble.stacked_weights()
    return con, pairs, matrix, ensemble, W, b, load_item_vectors(con, "test")


def _brute_force(pairs: pd.DataFrame, matrix: np.ndarray, ensemble: BaggedEnsemble, strategy: str,
                 per_category: int = 2) -> list[str]:
    index = {item: i for i, item in enumerate(_ids())}
    a = np.array([index[x] for x in pairs.item_a_id])
    b = np.array([index[x] for x in pairs.item_b_id])
    member = ensemble.predict_member_proba(pair_features(matrix[a], matrix[b]))
    scores = strategy_uncertainty(strategy, seed=5)(member, pairs.pair_key.to_numpy(dtype=object))
    frame = pairs.assign(score=scores).sort_values(["fine_category", "score", "pair_key"], ascending=[True, False, True])
    return sorted(frame.groupby("fine_category").head(per_category).pair_key)


@pytest.mark.parametrize("per_category", [1, 2])
@pytest.mark.parametrize("strategy", ["qbc", "margin", "random"])
def test_streamed_selection_equals_brute_force_for_any_chunking(candidate_db, strategy: str, per_category: int) -> None:
    con, pairs, matrix, ensemble, W, b, vectors = _scan_inputs(candidate_db)
    expected = _brute_force(pairs, matrix, ensemble, strategy, per_category)
    sql = "select pair_key, item_a_id, item_b_id, fine_category from candidates"
    results = []
    # float64 for an exact comparison with the float64 brute force (float32 may reorder near-ties)
    for config in (ScoringConfig(chunk_rows=97, workers=1, dtype="float64"),
                   ScoringConfig(chunk_rows=1024, workers=2, dtype="float64")):
        rows, n_scored = score_candidates(
            con, sql, W, b, 10, vectors, strategy_uncertainty(strategy, seed=5), per_category=per_category,
            config=config)
        assert n_scored == len(pairs)
        results.append(rows)
        assert sorted(r["pair_key"] for r in rows) == expected
    assert [r["pair_key"] for r in results[0]] == [r["pair_key"] for r in results[1]]
    # mean_proba of a kept row is the ensemble mean
    row = results[0][0]
    member = ensemble.predict_member_proba(
        pair_features(matrix[[int(row["item_a_id"][5:])]], matrix[[int(row["item_b_id"][5:])]])
    )
    np.testing.assert_allclose(row["mean_proba"], member.mean(axis=0)[0], atol=1e-5)


def test_tied_scores_keep_the_smallest_pair_keys_whatever_the_chunking(candidate_db) -> None:
    con, pairs, matrix, ensemble, W, b, vectors = _scan_inputs(candidate_db)
    sql = "select pair_key, item_a_id, item_b_id, fine_category from candidates"
    expected = sorted(pairs.sort_values("pair_key").groupby("fine_category").head(2).pair_key)
    for config in (ScoringConfig(chunk_rows=50, workers=1), ScoringConfig(chunk_rows=700, workers=2)):
        rows, _ = score_candidates(con, sql, W, b, 10, vectors, lambda probs, keys: np.zeros(probs.shape[1]),
                                   per_category=2, config=config)
        assert sorted(r["pair_key"] for r in rows) == expected


def test_random_scores_do_not_depend_on_chunking() -> None:
    keys = np.array([f"k{i}" for i in range(1000)], dtype=object)
    whole = strategy_uncertainty("random", seed=3)(None, keys)
    parts = np.concatenate([strategy_uncertainty("random", seed=3)(None, keys[i : i + 77]) for i in range(0, 1000, 77)])
    np.testing.assert_array_equal(whole, parts)
    assert 0 <= whole.min() and whole.max() < 1 and whole.std() > 0.2
    assert not np.array_equal(whole, strategy_uncertainty("random", seed=4)(None, keys))


def _reference_uncertainty(strategy: str, qbc_measure: str, member_probs: np.ndarray) -> np.ndarray:
    """The textbook definitions on float64 arrays (population variance, mean of members)."""
    if strategy == "margin":
        return acquisition.margin(member_probs.mean(axis=0))
    if qbc_measure == "variance":
        return member_probs.var(axis=0).mean(axis=-1)
    return acquisition.vote_entropy(member_probs)


@pytest.mark.parametrize(("strategy", "qbc_measure"), [("qbc", "variance"), ("qbc", "vote_entropy"), ("margin", "variance")])
def test_uncertainty_on_the_scorer_layout_equals_acquisition(strategy: str, qbc_measure: str) -> None:
    """The scorer hands (M, n, C) views of class-major float32 arrays; the fast uncertainty on
    them equals the textbook definitions on float64 copies."""
    matrix = _vectors(unit=True)
    ensemble = _fitted_ensemble(matrix)
    W, b = ensemble.stacked_weights()
    scorer = StackedLinearScorer.from_weights(W, b, ItemVectors(_ids(), matrix), n_members=10, dtype="float32")
    rng = np.random.default_rng(4)
    member = scorer.member_proba(rng.integers(0, N_ITEMS, 2000), rng.integers(0, N_ITEMS, 2000))
    assert member.shape == (10, 2000, 3) and not member.flags.c_contiguous  # a view, no copy
    got = strategy_uncertainty(strategy, seed=2, qbc_measure=qbc_measure)(member, None)
    expected = _reference_uncertainty(strategy, qbc_measure, np.array(member, dtype=np.float64))
    np.testing.assert_allclose(got, expected, atol=1e-7, rtol=0)
    assert got.std() > 0


def test_float32_selection_is_within_tolerance_of_the_float64_one(candidate_db) -> None:
    """float32 (the default) may swap near-ties, never pick a pair clearly less uncertain."""
    con, pairs, matrix, ensemble, W, b, vectors = _scan_inputs(candidate_db)
    sql = "select pair_key, item_a_id, item_b_id, fine_category from candidates"
    kept = {}
    for dtype in ("float64", "float32"):
        rows, _ = score_candidates(con, sql, W, b, 10, vectors, strategy_uncertainty("qbc"),
                                   config=ScoringConfig(chunk_rows=500, dtype=dtype))
        kept[dtype] = {r["fine_category"]: r["uncertainty_score"] for r in rows}
    assert kept["float64"].keys() == kept["float32"].keys()
    for category, score in kept["float64"].items():
        assert abs(kept["float32"][category] - score) < 1e-5


def test_induced_clusters_are_seeded_and_nested() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((6, 8)) * 5
    matrix = np.vstack([c + rng.standard_normal((40, 8)) for c in centres])
    config = InducedConfig(n_fine=6, n_parent=2, seed=7)
    fine, parent_of_fine = induce_clusters(matrix, config)
    fine2, parent2 = induce_clusters(matrix, config)
    np.testing.assert_array_equal(fine, fine2)
    np.testing.assert_array_equal(parent_of_fine, parent2)
    assert set(fine) == set(range(6)) and set(parent_of_fine) == {0, 1}
    # The planted clusters are recovered: every block of 40 rows lands in one fine cluster.
    assert all(len(set(fine[i * 40 : (i + 1) * 40])) == 1 for i in range(6))


def test_scorer_rejects_positions_out_of_range() -> None:
    """The gathers skip numpy's bounds checks (mode='clip'), so the scorer checks positions itself."""
    matrix = _vectors(unit=True)
    ensemble = _fitted_ensemble(matrix)
    W, b = ensemble.stacked_weights()
    scorer = StackedLinearScorer.from_weights(W, b, ItemVectors(_ids(), matrix), n_members=10)
    with pytest.raises(IndexError):
        scorer.member_proba(np.array([0, N_ITEMS]), np.array([1, 2]))
    with pytest.raises(IndexError):
        scorer.member_proba(np.array([0, 1]), np.array([-1, 2]))
