"""Metrics, ID cross-validation (LLM labels never in a test fold) and diversity."""

from __future__ import annotations

import numpy as np
import pytest

from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.learning.logreg import LogRegParams
from python_jobs.learning.evaluation import (
    classification_metrics,
    diversity,
    evaluate_ood,
    id_cross_validation,
    id_cv_splits,
)


def test_classification_metrics_hand_checked() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    metrics = classification_metrics(y_true, y_pred)
    # substitute: P 1/2 R 1/2 F1 .5; complement: P 2/3 R 1 F1 .8; other: P 1 R 1/2 F1 2/3
    assert metrics["f1_substitute"] == pytest.approx(0.5)
    assert metrics["f1_complement"] == pytest.approx(0.8)
    assert metrics["f1_other"] == pytest.approx(2 / 3)
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    # confusion counts, true class first: the report's and rpt_confusion's matrices
    assert [[metrics[f"confusion_{t}_{p}"] for p in ("substitute", "complement", "other")]
            for t in ("substitute", "complement", "other")] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_id_cv_splits_keep_llm_samples_out_of_test_folds() -> None:
    y_human = np.repeat([0, 1, 2], [10, 15, 25])
    splits = id_cv_splits(y_human, n_llm=7, n_splits=5, seed=3)
    n_h = len(y_human)
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested.tolist()) == list(range(n_h))  # every human label tested exactly once
    for train, test in splits:
        assert test.max() < n_h
        assert set(range(n_h, n_h + 7)) <= set(train.tolist())
        assert not set(train.tolist()) & set(test.tolist())
    # folds do not depend on how many LLM labels there are
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, id_cv_splits(y_human, 0, 5, 3)))


def test_id_cross_validation_trains_on_llm_labels_but_never_tests_them() -> None:
    rng = np.random.default_rng(0)
    X_human = rng.normal(size=(60, 4))
    y_human = np.repeat([0, 1, 2], 20)
    X_llm = 100 + rng.normal(size=(9, 4))  # recognisable rows
    y_llm = np.repeat([0, 1, 2], 3)
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def fit_predict(X_train, y_train, X_test, fold):
        seen.append((X_train, X_test))
        return np.zeros(len(X_test), dtype=np.int64)

    result = id_cross_validation(X_human, y_human, X_llm, y_llm, fit_predict, n_splits=3, seed=0)
    assert len(seen) == 3
    for X_train, X_test in seen:
        assert (X_test < 50).all()  # no LLM row in a test fold
        assert (X_train > 50).all(axis=1).sum() == 9  # all LLM rows in every training fold
    assert result["id_n_llm"] == 9 and result["id_n_human"] == 60
    assert result["id_accuracy"] == pytest.approx(1 / 3)
    assert len(result["id_fold_macro_f1"]) == 3


def test_id_cross_validation_with_the_ensemble_and_ood_keys() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 5)) * 3
    y = np.repeat([0, 1, 2], [20, 30, 40])
    X = centres[y] + rng.normal(size=(len(y), 5))
    hyper = {"params": LogRegParams(C=1.0).to_dict()}
    result = id_cross_validation(X, np.array(["substitute", "complement", "other"], dtype=object)[y],
                                 None, None, hyperparameters=hyper, n_members=3, seed=0)
    assert result["id_macro_f1"] > 0.9
    ood = evaluate_ood(BaggedEnsemble(n_members=3, hyperparameters=hyper).fit(X, y), X, y)
    assert ood["ood_macro_f1"] > 0.9 and {"ood_accuracy", "ood_f1_other"} <= set(ood)


def test_diversity_known_cases() -> None:
    row = np.array([1.0, 2.0, 3.0, 5.0])
    assert diversity(np.tile(row, (6, 1))) == pytest.approx(0.0)
    # perfectly anti-correlated rows: |r| = 1 -> diversity 0
    assert diversity(np.vstack([row, -row])) == pytest.approx(0.0)
    # two uncorrelated rows: r = 0 -> diversity 1
    assert diversity(np.array([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]])) == pytest.approx(1.0)
    # three rows, |r| = 1, 0, 0 -> mean |r| 1/3
    three = np.array([[1.0, -1.0, 1.0, -1.0], [2.0, -2.0, 2.0, -2.0], [1.0, 1.0, -1.0, -1.0]])
    assert diversity(three) == pytest.approx(2 / 3)


def test_diversity_subsamples_deterministically() -> None:
    X = np.random.default_rng(2).normal(size=(300, 8))
    assert diversity(X, max_samples=50, seed=1) == diversity(X, max_samples=50, seed=1)
    assert 0.0 < diversity(X, max_samples=50, seed=1) < 1.0
    assert np.isnan(diversity(np.ones((3, 4))))  # constant rows carry no correlation
