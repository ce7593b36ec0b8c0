"""Sparse item vectors, title-overlap pair features and named feature sets (issue 11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from python_jobs import warehouse
from python_jobs.config import UnknownFeatureSet, parse_features
from python_jobs.features.overlap import OVERLAP_COLUMNS, ItemSets, overlap_features
from python_jobs.features.sets import PairFeatures, stack_rows
from python_jobs.features.sparse import (
    SparseCharTfidf,
    load_sparse_vectors,
    store_sparse_vectors,
)
from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.learning.logreg import LogRegParams
from python_jobs.learning.evaluation import diversity

TITLES = [
    "ボールペン 黒 0.5mm 10本 ゼブラ",
    "ボールペン 赤 0.7mm 10本 ゼブラ",
    "ボールペン替芯 黒 0.5mm ゼブラ",
    "コピー用紙 A4 500枚 オリジナル",
    "コピー用紙 Ａ４ 2500枚 オリジナル",
    "ペーパータオル 200組",
    "けんだま 2個",
    "なわとび ブルー",
]
IDS = [f"shop:{i}" for i in range(len(TITLES))]


def test_sparse_vectors_round_trip_through_list_columns(db_path: Path) -> None:
    matrix = SparseCharTfidf().fit_transform(TITLES)
    assert sp.isspmatrix_csr(matrix) and matrix.dtype == np.float32
    assert np.allclose(np.sqrt(matrix.multiply(matrix).sum(axis=1)), 1.0, atol=1e-5)
    con = warehouse.connect(db_path)
    assert store_sparse_vectors(con, "sparse:test", IDS, matrix) == len(IDS)
    store_sparse_vectors(con, "sparse:test", IDS[:2], matrix[:2] * 2)  # replaces two rows
    ids, loaded = load_sparse_vectors(con, "sparse:test")
    expected = matrix.toarray()
    expected[:2] *= 2
    assert ids == sorted(IDS) and loaded.shape == matrix.shape
    assert np.allclose(loaded.toarray(), expected)


def test_overlap_features_are_symmetric_bounded_and_named() -> None:
    items = ItemSets(IDS, TITLES)
    forward = overlap_features(items, IDS[:4], IDS[1:5])
    backward = overlap_features(items, IDS[1:5], IDS[:4])
    assert forward.shape == (4, len(OVERLAP_COLUMNS)) and forward.dtype == np.float32
    assert np.allclose(forward, backward, atol=1e-6)
    assert forward.min() >= 0.0 and forward.max() <= 1.0 + 1e-6
    row = dict(zip(OVERLAP_COLUMNS, overlap_features(items, [IDS[0]], [IDS[1]])[0]))
    assert row["last_token_eq"] == 1.0 and row["first_token_eq"] == 1.0  # same maker, same product word
    assert row["one_only_num"] == 1.0                                   # 0.5mm vs 0.7mm
    same = dict(zip(OVERLAP_COLUMNS, overlap_features(items, [IDS[3]], [IDS[3]])[0]))
    assert same["jaccard_c3"] == pytest.approx(1.0) and same["jaro_winkler"] == pytest.approx(1.0)


def test_feature_set_names_are_components_joined_by_plus() -> None:
    assert parse_features("char13+overlap") == ("char13", "overlap")
    with pytest.raises(UnknownFeatureSet):
        parse_features("char13+nonsense")
    with pytest.raises(UnknownFeatureSet):
        parse_features("overlap+overlap")


def _pair_features() -> PairFeatures:
    return PairFeatures(name="char13+overlap", sparse_ids=IDS, sparse_matrix=SparseCharTfidf().fit_transform(TITLES),
                        item_sets=ItemSets(IDS, TITLES))


def test_sparse_pair_rows_are_absdiff_product_cos_then_overlap() -> None:
    features = _pair_features()
    rows = features.pair_matrix(IDS[:3], IDS[1:4])
    V = features.sparse_matrix.shape[1]
    assert sp.issparse(rows) and rows.shape == (3, 2 * V + 1 + len(OVERLAP_COLUMNS))
    a, b = features.sparse_matrix[0].toarray()[0], features.sparse_matrix[1].toarray()[0]
    first = rows[0].toarray()[0]
    assert np.allclose(first[:V], np.abs(a - b)) and np.allclose(first[V:2 * V], a * b)
    assert first[2 * V] == pytest.approx(float(a @ b), abs=1e-5)
    dense = features.pair_matrix(IDS[:3], IDS[1:4], dense=True)
    assert isinstance(dense, np.ndarray) and dense.shape == (3, 1 + len(OVERLAP_COLUMNS))
    assert np.allclose(dense[:, 0], rows[:, 2 * V].toarray().ravel(), atol=1e-6)


def test_bagged_logreg_and_hgb_fit_sparse_rows_and_linear_weights_reproduce_probabilities() -> None:
    features = _pair_features()
    rng = np.random.default_rng(0)
    a = rng.integers(0, len(IDS), 90)
    b = rng.integers(0, len(IDS), 90)
    X = features.pair_matrix(np.asarray(IDS, dtype=object)[a], np.asarray(IDS, dtype=object)[b])
    y = np.arange(90) % 3
    linear = BaggedEnsemble(n_members=3, params=LogRegParams(C=10.0), seed=1).fit(X, y)
    W, bias = linear.stacked_weights()
    logits = (X @ W + bias).reshape(90, 3, 3)
    proba = np.exp(logits - logits.max(-1, keepdims=True))
    proba /= proba.sum(-1, keepdims=True)
    assert np.allclose(proba.transpose(1, 0, 2), linear.predict_member_proba(X), atol=1e-6)
    # Sparse rows fit from zeros even when offered a warm start (newton-cg is faster so).
    again = BaggedEnsemble(n_members=3, params=LogRegParams(C=10.0), seed=1).fit(
        X, y, warm_start=(linear.coef_ * 3, linear.intercept_))
    assert np.array_equal(again.coef_, linear.coef_)
    boosted = BaggedEnsemble(n_members=2, params=LogRegParams(family="hgb", hgb_max_iter=5), seed=1).fit(
        features.pair_matrix(np.asarray(IDS, dtype=object)[a], np.asarray(IDS, dtype=object)[b], dense=True), y)
    assert boosted.predict_member_proba(X.toarray()[:, -(1 + len(OVERLAP_COLUMNS)):]).shape == (2, 90, 3)
    with pytest.raises(ValueError):
        boosted.stacked_weights()
    assert len(boosted.member_class_counts) == 2


def test_diversity_of_sparse_rows_equals_the_dense_computation() -> None:
    X = np.random.default_rng(0).random((40, 25))
    X[X < 0.6] = 0
    assert diversity(sp.csr_matrix(X)) == pytest.approx(diversity(X), abs=1e-9)
    assert sp.issparse(stack_rows([sp.csr_matrix(X), X]))
