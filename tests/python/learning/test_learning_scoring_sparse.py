"""The sparse scorer (python_jobs/learning/scoring_sparse.py) against pair features materialised the plain
way and multiplied by the stacked weights, on random sparse data and on real FBL titles."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from python_jobs.features.vectors import canonical_csr
from python_jobs.learning.logreg import proba_from_stacked
from python_jobs.learning.scoring_sparse import (
    PairLayout,
    SparseStackedScorer,
    materialised_pair_features,
)
from python_jobs.learning.stacked_linear import FLOAT32_TOLERANCE

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
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from python_jobs.features.text import normalise_title

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


# ---- the scan: sparse item vectors behind the same score_candidates as the dense ones ----

N_OVERLAP = 4


@pytest.fixture()
def sparse_candidates(tmp_path):  # noqa: ANN201
    """A DuckDB candidate table (with N_OVERLAP dense overlap columns) over _random_items(), and
    the sparse ItemVectors; ids item:0000.. by row."""
    import duckdb
    import pandas as pd

    from python_jobs.features.vectors import ItemVectors

    X = _random_items(seed=4)
    ids = np.array([f"item:{i:04d}" for i in range(N_ITEMS)], dtype=object)
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, N_ITEMS, 2500), rng.integers(0, N_ITEMS, 2500)
    pairs = pd.DataFrame({"item_a_id": ids[a], "item_b_id": ids[b]})
    pairs["pair_key"] = [f"{x}~{y}" for x, y in zip(pairs.item_a_id, pairs.item_b_id)]
    pairs = pairs.drop_duplicates("pair_key").reset_index(drop=True)
    pairs["fine_category"] = [f"cat{i % 13:02d}" for i in range(len(pairs))]
    overlap = rng.random((len(pairs), N_OVERLAP))
    for column in range(N_OVERLAP):
        pairs[f"overlap_{column}"] = overlap[:, column]
    con = duckdb.connect(str(tmp_path / "sparse.duckdb"))
    con.register("p", pairs)
    con.execute("create table candidates as select * from p")
    yield con, pairs, ItemVectors(ids, X)
    con.close()


def _brute_force_top(pairs, vectors, W, bias, layout, extra_columns, strategy, per_category):  # noqa: ANN001, ANN202
    from python_jobs.learning.acquisition import strategy_uncertainty

    a, b = vectors.rows(pairs.item_a_id.to_numpy(dtype=object)), vectors.rows(pairs.item_b_id.to_numpy(dtype=object))
    extra = pairs[list(extra_columns)].to_numpy() if extra_columns else None
    member = proba_from_stacked(materialised_pair_features(vectors.matrix, a, b, layout, extra).toarray(), W, bias, C)
    scores = strategy_uncertainty(strategy, seed=5)(member, pairs.pair_key.to_numpy(dtype=object))
    frame = pairs.assign(score=scores).sort_values(["fine_category", "score", "pair_key"], ascending=[True, False, True])
    return sorted(frame.groupby("fine_category").head(per_category).pair_key), member, a, b


@pytest.mark.parametrize("per_category", [1, 3])
@pytest.mark.parametrize("strategy", ["qbc", "margin"])
@pytest.mark.parametrize("with_overlap", [False, True], ids=["blocks_only", "with_overlap_columns"])
def test_sparse_scan_selects_what_brute_force_selects_for_any_chunking(
        sparse_candidates, strategy: str, per_category: int, with_overlap: bool) -> None:
    from python_jobs.config import ScoringConfig
    from python_jobs.learning.acquisition import strategy_uncertainty
    from python_jobs.learning.scoring import score_candidates

    con, pairs, vectors = sparse_candidates
    extra_columns = tuple(f"overlap_{i}" for i in range(N_OVERLAP)) if with_overlap else ()
    layout = PairLayout(("absdiff", "prod", "cos"), n_extra=len(extra_columns))
    rng = np.random.default_rng(6)
    W, bias = rng.standard_normal((layout.n_features(DIM), M * C)), rng.standard_normal(M * C)
    expected, member, _, _ = _brute_force_top(pairs, vectors, W, bias, layout, extra_columns, strategy, per_category)
    sql = "select * from candidates"
    results = []
    for config in (ScoringConfig(chunk_rows=97, workers=1, dtype="float64"),
                   ScoringConfig(chunk_rows=1024, workers=2, dtype="float64")):
        rows, n_scored = score_candidates(con, sql, W, bias, M, vectors, strategy_uncertainty(strategy, seed=5),
                                          per_category=per_category, config=config, layout=layout,
                                          extra_columns=extra_columns)
        assert n_scored == len(pairs)
        assert sorted(r["pair_key"] for r in rows) == expected
        results.append([r["pair_key"] for r in rows])
    assert results[0] == results[1]
    # a kept row's mean_proba is the members' mean of the materialised computation
    row = rows[0]
    i = int(np.flatnonzero(pairs.pair_key.to_numpy() == row["pair_key"])[0])
    np.testing.assert_allclose(row["mean_proba"], member[:, i].mean(axis=0), atol=1e-9)


def test_overlap_columns_may_come_as_one_list_column(sparse_candidates) -> None:
    """One DuckDB float[K] column holding the K overlap values selects the same pairs with the
    same scores as K separate columns."""
    from python_jobs.config import ScoringConfig
    from python_jobs.learning.acquisition import strategy_uncertainty
    from python_jobs.learning.scoring import score_candidates

    con, _, vectors = sparse_candidates
    columns = tuple(f"overlap_{i}" for i in range(N_OVERLAP))
    con.execute(f"create table candidates_listed as select *, [{', '.join(columns)}]::float[{N_OVERLAP}] as overlap "
                "from candidates")
    layout = PairLayout(("absdiff", "prod", "cos"), n_extra=N_OVERLAP)
    rng = np.random.default_rng(10)
    W, bias = rng.standard_normal((layout.n_features(DIM), M * C)), rng.standard_normal(M * C)
    picks = []
    for sql, extra in (("select * from candidates", columns), ("select * from candidates_listed", ("overlap",))):
        rows, _ = score_candidates(con, sql, W, bias, M, vectors, strategy_uncertainty("margin"), per_category=2,
                                   config=ScoringConfig(chunk_rows=300), layout=layout, extra_columns=extra)
        picks.append([(r["pair_key"], round(r["uncertainty_score"], 5)) for r in rows])
    assert picks[0] == picks[1] and picks[0]


def test_sparse_scan_breaks_tied_scores_by_pair_key_whatever_the_chunking(sparse_candidates) -> None:
    from python_jobs.config import ScoringConfig
    from python_jobs.learning.scoring import score_candidates

    con, pairs, vectors = sparse_candidates
    W, bias = np.zeros((PairLayout().n_features(DIM), M * C)), np.zeros(M * C)
    expected = sorted(pairs.sort_values("pair_key").groupby("fine_category").head(2).pair_key)
    for config in (ScoringConfig(chunk_rows=50, workers=1), ScoringConfig(chunk_rows=700, workers=2)):
        rows, _ = score_candidates(con, "select * from candidates", W, bias, M, vectors,
                                   lambda probs, keys: np.zeros(probs.shape[1]), per_category=2, config=config)
        assert sorted(r["pair_key"] for r in rows) == expected


def test_score_candidate_frame_takes_sparse_vectors_and_overlap_columns(sparse_candidates) -> None:
    from python_jobs.config import ScoringConfig
    from python_jobs.learning.scoring import score_candidate_frame

    _, pairs, vectors = sparse_candidates
    extra_columns = tuple(f"overlap_{i}" for i in range(N_OVERLAP))
    layout = PairLayout(("absdiff", "prod", "cos"), n_extra=N_OVERLAP)
    rng = np.random.default_rng(7)

    class Ensemble:  # what score_candidate_frame reads of a BaggedEnsemble
        coef_ = rng.standard_normal((M, C, layout.n_features(DIM)))
        intercept_ = rng.standard_normal((M, C))

        def stacked_weights(self) -> tuple[np.ndarray, np.ndarray]:
            return self.coef_.reshape(M * C, -1).T.copy(), self.intercept_.reshape(-1).copy()

    W, bias = Ensemble().stacked_weights()
    got = score_candidate_frame(Ensemble(), vectors, pairs, ScoringConfig(chunk_rows=128), layout, extra_columns)
    _, member, _, _ = _brute_force_top(pairs, vectors, W, bias, layout, extra_columns, "qbc", 1)
    np.testing.assert_allclose(got, member, atol=FLOAT32_TOLERANCE)
    with pytest.raises(ValueError, match="extra columns"):
        score_candidate_frame(Ensemble(), vectors, pairs, ScoringConfig(), layout, extra_columns[:2])


def test_item_vectors_keep_sparse_matrices_canonical_with_their_norms() -> None:
    from python_jobs.features.vectors import ItemVectors

    X = _random_items(unit=False, signed=True)
    vectors = ItemVectors([f"i{i}" for i in range(N_ITEMS)], X)
    assert vectors.is_sparse and vectors.matrix.has_canonical_format and vectors.matrix.dtype == np.float32
    assert vectors.dim == DIM
    np.testing.assert_allclose(vectors.norms, np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel()), rtol=1e-6)
    assert vectors.norms[3] == 0.0
    with pytest.raises(ValueError, match="item ids"):
        ItemVectors(["only one"], X)


def test_dense_scorer_takes_overlap_columns_after_its_blocks() -> None:
    """make_scorer gives dense vectors the dense kernel; its extra columns follow [|a-b|, a*b, cos, a+b]."""
    from python_jobs.features.pairs import pair_features
    from python_jobs.features.vectors import ItemVectors
    from python_jobs.learning.scoring import make_scorer
    from python_jobs.learning.stacked_linear import StackedLinearScorer

    rng = np.random.default_rng(8)
    dense = rng.standard_normal((50, 16))
    vectors = ItemVectors([f"i{i}" for i in range(50)], dense)
    layout = PairLayout(("absdiff", "prod", "cos", "sum"), n_extra=3)
    W, bias = rng.standard_normal((layout.n_features(16), M * C)), rng.standard_normal(M * C)
    scorer = make_scorer(W, bias, vectors, M, "float64", layout)
    assert isinstance(scorer, StackedLinearScorer)
    a, b, extra = rng.integers(0, 50, 300), rng.integers(0, 50, 300), rng.random((300, 3))
    expected = proba_from_stacked(np.hstack([pair_features(dense[a], dense[b]), extra]), W, bias, C)
    np.testing.assert_allclose(scorer.member_proba(a, b, extra), expected, atol=1e-6)
    with pytest.raises(ValueError, match="dense item vectors"):
        make_scorer(W, bias, vectors, M, "float64", PairLayout(("absdiff", "prod", "cos"), n_extra=3))


def test_pairs_out_of_query_order_are_grouped_by_item_and_scored_the_same() -> None:
    from python_jobs.learning.scoring_sparse import MIN_MEAN_RUN, _grouping_order

    rng = np.random.default_rng(9)
    queries = np.repeat(rng.integers(0, N_ITEMS, 40), 25)
    partners = rng.integers(0, N_ITEMS, len(queries))
    assert _grouping_order(queries, partners) is None                 # query-major: runs of 25
    assert _grouping_order(partners, queries) is None                 # the shared item on the b side
    shuffle = rng.permutation(len(queries))
    order = _grouping_order(queries[shuffle], partners[shuffle])
    assert order is not None and np.all(np.diff(queries[shuffle][order]) >= 0)
    assert _grouping_order(queries[:2 * MIN_MEAN_RUN - 1], partners[:2 * MIN_MEAN_RUN - 1]) is None

    X = _random_items()
    W, bias = rng.standard_normal((PairLayout().n_features(DIM), M * C)), rng.standard_normal(M * C)
    scorer = SparseStackedScorer.from_weights(W, bias, X, M, dtype="float64")
    a, b = queries[shuffle], partners[shuffle]
    expected = proba_from_stacked(materialised_pair_features(X, a, b, PairLayout()).toarray(), W, bias, C)
    np.testing.assert_allclose(scorer.member_proba(a, b), expected, atol=1e-9, rtol=0)
