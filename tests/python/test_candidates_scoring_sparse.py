"""The sparse scorer (python_jobs/scoring_sparse.py) against pair features materialised the plain
way and multiplied by the stacked weights, on random sparse data and on real FBL titles."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from python_jobs.model import proba_from_stacked
from python_jobs.scoring import FLOAT32_TOLERANCE
from python_jobs.scoring_sparse import (
    PairLayout,
    SparseStackedScorer,
    canonical_csr,
    materialised_pair_features,
)

N_ITEMS, DIM, M, C = 120, 400, 10, 3


def _random_items(seed: int = 0, unit: bool = True, signed: bool = False) -> sp.csr_matrix:
    """Sparse rows with unsorted indices (like TfidfVectorizer's), a few empty rows and (signed) negative values."""
    rng = np.random.default_rng(seed)
    X = sp.random(N_ITEMS, DIM, density=0.04, random_state=seed, dtype=np.float64, format="csr")
    X.data = rng.uniform(0.05, 1.0, X.nnz) * (np.where(rng.random(X.nnz) < 0.3, -1, 1) if signed else 1)
    X = sp.diags(np.where(np.isin(np.arange(N_ITEMS), [3, 7]), 0.0, 1.0)) @ X  # two empty rows
    X = sp.csr_matrix(X)
    X.eliminate_zeros()
    if unit:
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        X = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ X
    X = sp.csr_matrix(X)
    # Reverse each row's indices: the scorer must not rely on the caller's order.
    for row in range(N_ITEMS):
        lo, hi = X.indptr[row], X.indptr[row + 1]
        X.indices[lo:hi] = X.indices[lo:hi][::-1].copy()
        X.data[lo:hi] = X.data[lo:hi][::-1].copy()
    X.has_sorted_indices = False
    return X


def _pairs(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Query-major runs (like the sampler's pool), random pairs, self-pairs and pairs with an empty row."""
    rng = np.random.default_rng(seed)
    a = np.concatenate([np.repeat(rng.integers(0, N_ITEMS, n // 20), 10), rng.integers(0, N_ITEMS, n // 2),
                        [5, 5, 3, 3, 7]])
    b = np.concatenate([rng.integers(0, N_ITEMS, n // 2), rng.integers(0, N_ITEMS, n // 2), [5, 3, 3, 9, 7]])
    # Runs where the shared item is on the b side.
    b[:30] = b[0]
    return a, b


@pytest.mark.parametrize("layout", [
    PairLayout(),
    PairLayout(("absdiff", "prod", "cos", "sum")),
    PairLayout(("absdiff", "prod", "cos"), n_extra=5),
    PairLayout(("prod", "absdiff", "cos", "sum"), n_extra=3),
], ids=["absdiff_prod_cos", "with_sum", "with_overlap", "reordered_with_sum_and_overlap"])
@pytest.mark.parametrize(("unit", "signed"), [(True, False), (False, True)], ids=["unit_tfidf_like", "raw_signed"])
@pytest.mark.parametrize(("dtype", "tolerance"), [("float64", 1e-9), ("float32", FLOAT32_TOLERANCE)])
def test_sparse_scorer_equals_materialised_pair_features_times_weights(
        layout: PairLayout, unit: bool, signed: bool, dtype: str, tolerance: float) -> None:
    X = _random_items(unit=unit, signed=signed)
    rng = np.random.default_rng(2)
    W = rng.standard_normal((layout.n_features(DIM), M * C)) * 2
    bias = rng.standard_normal(M * C)
    a, b = _pairs(1000)
    extra = rng.standard_normal((len(a), layout.n_extra)) if layout.n_extra else None

    scorer = SparseStackedScorer.from_weights(W, bias, X, M, layout, dtype=dtype)
    got = scorer.member_proba(a, b, extra)

    expected = proba_from_stacked(materialised_pair_features(X, a, b, layout, extra).toarray(), W, bias, C)
    assert got.shape == expected.shape == (M, len(a), C)
    np.testing.assert_allclose(got, expected, atol=tolerance, rtol=0)
    assert np.abs(expected[0] - expected[1]).max() > 1e-3  # members differ: the layout is covered


def test_sparse_scorer_chunks_do_not_change_the_result() -> None:
    X = _random_items()
    rng = np.random.default_rng(3)
    W, bias = rng.standard_normal((PairLayout().n_features(DIM), M * C)), rng.standard_normal(M * C)
    scorer = SparseStackedScorer.from_weights(W, bias, X, M)
    a, b = _pairs(2000)
    whole = scorer.class_major_proba(a, b)
    parts = np.concatenate([scorer.class_major_proba(a[i:i + 77], b[i:i + 77]) for i in range(0, len(a), 77)])
    np.testing.assert_array_equal(whole, parts)


def test_sparse_scorer_rejects_bad_positions_weights_and_extra_columns() -> None:
    X = _random_items()
    layout = PairLayout(n_extra=2)
    W, bias = np.zeros((layout.n_features(DIM), M * C)), np.zeros(M * C)
    scorer = SparseStackedScorer.from_weights(W, bias, X, M, layout)
    with pytest.raises(IndexError):
        scorer.member_proba(np.array([0, N_ITEMS]), np.array([1, 2]), np.zeros((2, 2)))
    with pytest.raises(IndexError):
        scorer.member_proba(np.array([-1]), np.array([1]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="extra columns"):
        scorer.member_proba(np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="extra columns"):
        scorer.member_proba(np.array([0]), np.array([1]), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="stacked weights have"):
        SparseStackedScorer.from_weights(W[:-1], bias, X, M, layout)
    with pytest.raises(ValueError, match="at most once"):
        PairLayout(("absdiff", "absdiff"))
    assert scorer.member_proba(np.array([], dtype=int), np.array([], dtype=int), np.zeros((0, 2))).shape == (M, 0, C)


def test_canonical_csr_sorts_and_sums_duplicate_indices() -> None:
    X = sp.csr_matrix((np.array([1.0, 2.0, 3.0]), np.array([4, 1, 4]), np.array([0, 3])), shape=(1, 6))
    canonical = canonical_csr(X)
    assert canonical.has_canonical_format and canonical.dtype == np.float32
    assert canonical.indices.tolist() == [1, 4] and canonical.data.tolist() == [2.0, 4.0]


def _fbl_titles(fbl_dir: Path) -> tuple[list[str], list[tuple[str, str]]]:
    titles, pairs = set(), []
    for name in ("FBL2023.tsv", "FBL2024.tsv"):
        with open(fbl_dir / name, encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                titles.update((row["ITEM_NAME_1"], row["ITEM_NAME_2"]))
                pairs.append((row["ITEM_NAME_1"], row["ITEM_NAME_2"]))
    return sorted(titles), pairs


def test_sparse_scorer_on_fbl_titles_equals_a_fitted_logistic_regression(fbl_dir: Path) -> None:
    """Char 1-3-gram TF-IDF of the real titles (~42k columns), the labelled pairs, and a logistic
    regression fitted on their materialised pair features: the scorer gives its predict_proba."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from python_jobs.features import normalise_title

    titles, labelled = _fbl_titles(fbl_dir)
    X = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32).fit_transform(
        [normalise_title(t) for t in titles])
    position = {title: i for i, title in enumerate(titles)}
    a = np.array([position[x] for x, _ in labelled])
    b = np.array([position[y] for _, y in labelled])
    layout = PairLayout(("absdiff", "prod", "cos"))
    features = materialised_pair_features(X, a, b, layout)
    assert features.shape == (len(a), 2 * X.shape[1] + 1)
    rng = np.random.default_rng(0)
    y = rng.integers(0, C, len(a))
    y[features[:, 2 * X.shape[1]].toarray().ravel() > 0.5] = 0  # something to learn
    # A few iterations on a sixth of the pairs: the weights only need to be sklearn's own.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=10.0, max_iter=5).fit(features[::6], y[::6])

    scorer = SparseStackedScorer.from_weights(model.coef_.T, model.intercept_, X, 1, layout, dtype="float32")
    got = scorer.member_proba(a, b)[0]
    np.testing.assert_allclose(got, model.predict_proba(features), atol=FLOAT32_TOLERANCE, rtol=0)
    assert np.abs(got - 1 / C).max() > 0.1  # the model is not uniform
