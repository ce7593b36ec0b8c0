"""Undersampling, the bagged ensemble's exposed weights, and the tuner, on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from python_jobs.config import TuningConfig
from python_jobs.learning.ensemble import BaggedEnsemble, undersample_indices
from python_jobs.learning.logreg import CLASSES, LogRegParams, encode_labels, proba_from_stacked
from python_jobs.learning.tuning import tune_hyperparameters


def _synthetic(n_per_class: tuple[int, int, int] = (30, 60, 150), dims: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dims)) * 2
    X = np.vstack([rng.normal(centres[c], 1.0, size=(n, dims)) for c, n in enumerate(n_per_class)])
    y = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)])
    return X.astype(np.float32), y


def test_undersampling_balances_every_class_to_the_minority_count() -> None:
    _, y = _synthetic((7, 20, 55))
    idx = undersample_indices(y, np.random.default_rng(0))
    assert np.bincount(y[idx]).tolist() == [7, 7, 7]
    assert len(np.unique(idx)) == len(idx)  # without replacement


def test_undersampling_is_seeded() -> None:
    _, y = _synthetic((7, 20, 55))
    a = undersample_indices(y, np.random.default_rng(5))
    b = undersample_indices(y, np.random.default_rng(5))
    c = undersample_indices(y, np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_ensemble_members_are_balanced_distinct_and_reproducible() -> None:
    X, y = _synthetic()
    first = BaggedEnsemble(n_members=4, seed=11).fit(X, y)
    again = BaggedEnsemble(n_members=4, seed=11).fit(X, y)
    assert first.member_class_counts == [{"substitute": 30, "complement": 30, "other": 30}] * 4
    assert np.allclose(first.coef_, again.coef_)
    # members see different samples of the majority classes
    assert not np.array_equal(first.member_indices[0], first.member_indices[1])
    rows = first.bag_member_rows("run-x", 2)
    assert len(rows) == 12 and {r["n_samples"] for r in rows} == {30}


def test_ensemble_accepts_class_names_and_exposes_class_order() -> None:
    X, y = _synthetic()
    names = np.array(CLASSES, dtype=object)[y]
    by_name = BaggedEnsemble(n_members=2, seed=1).fit(X, names)
    by_index = BaggedEnsemble(n_members=2, seed=1).fit(X, y)
    assert np.allclose(by_name.coef_, by_index.coef_)
    assert list(by_name.classes_) == ["substitute", "complement", "other"]
    assert encode_labels(["other", "substitute"]).tolist() == [2, 0]


@pytest.mark.parametrize("standardize", [True, False])
def test_stacked_weights_reproduce_member_probabilities(standardize: bool) -> None:
    X, y = _synthetic()
    ensemble = BaggedEnsemble(n_members=3, params=LogRegParams(C=0.5, standardize=standardize), seed=2).fit(X, y)
    member_probs = ensemble.predict_member_proba(X)
    assert member_probs.shape == (3, len(y), 3)
    assert np.allclose(member_probs.sum(axis=-1), 1.0)
    W, b = ensemble.stacked_weights()
    assert W.shape == (X.shape[1], 9) and b.shape == (9,)
    assert np.allclose(proba_from_stacked(X, W, b), member_probs, atol=1e-10)
    # column m*C + c is member m, class c: member 1's logits by hand
    logits = X.astype(np.float64) @ W[:, 3:6] + b[3:6]
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert np.allclose(expected / expected.sum(axis=1, keepdims=True), member_probs[1])
    # the ensemble actually learned the synthetic classes
    assert (ensemble.predict(X) == y).mean() > 0.9


def test_standardisation_is_folded_into_raw_space_weights() -> None:
    X, y = _synthetic()
    X = X * np.array([100, 1, 1, 0.01, 1, 1], dtype=np.float32)  # very different scales
    ensemble = BaggedEnsemble(n_members=1, params=LogRegParams(C=1.0, standardize=True), seed=0).fit(X, y)
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    idx = ensemble.member_indices[0]
    scaler = StandardScaler().fit(X[idx].astype(np.float64))
    reference = LogisticRegression(C=1.0, max_iter=300, tol=1e-3).fit(scaler.transform(X[idx].astype(np.float64)), y[idx])
    expected = reference.predict_proba(scaler.transform(X.astype(np.float64)))
    assert np.allclose(ensemble.predict_member_proba(X)[0], expected, atol=1e-6)


def test_tuning_is_seeded_and_returns_a_plain_dict() -> None:
    X, y = _synthetic()
    config = TuningConfig(n_trials=3, n_splits=3, seed=4)
    first = tune_hyperparameters(X, y, config)
    again = tune_hyperparameters(X, np.array(CLASSES, dtype=object)[y], config)
    assert first["params"] == again["params"]
    assert set(first["params"]) == {"C", "class_weight", "standardize", "max_iter", "tol", "family",
                                    "hgb_max_iter", "hgb_learning_rate", "hgb_max_leaf_nodes"}
    assert first["params"]["family"] == "logreg"
    assert 0.0 <= first["cv_macro_f1"] <= 1.0 and len(first["trials"]) == 3
    ensemble = BaggedEnsemble(n_members=2, hyperparameters=first, seed=0)
    assert ensemble.params.C == pytest.approx(first["params"]["C"])


def test_fit_refuses_labels_missing_a_class() -> None:
    X, y = _synthetic()
    with pytest.raises(ValueError, match="need all"):
        BaggedEnsemble(n_members=1).fit(X[y != 0], y[y != 0])


def test_an_ensemble_fitted_in_slices_equals_the_whole_fit() -> None:
    X, y = _synthetic()
    whole = BaggedEnsemble(n_members=5, seed=3).fit(X, y)
    first = BaggedEnsemble(n_members=5, seed=3).fit(X, y, members=range(0, 2))
    rest = BaggedEnsemble(n_members=5, seed=3).fit(X, y, members=range(2, 5))
    assert np.array_equal(np.concatenate([first.coef_, rest.coef_]), whole.coef_)
    assert [*first.member_class_counts, *rest.member_class_counts] == whole.member_class_counts
    assert all(np.array_equal(a, b) for a, b in zip([*first.member_indices, *rest.member_indices],
                                                     whole.member_indices))
    with pytest.raises(ValueError, match="not all among"):
        BaggedEnsemble(n_members=5, seed=3).fit(X, y, members=range(4, 6))
