"""Evaluation of a round: pure functions on arrays, returning plain dicts (stored as JSON in
raw.round_metrics by the orchestrator).

- `classification_metrics`: macro-F1, per-class F1, accuracy, support, and the confusion counts
  (`confusion_<true>_<predicted>`, read by the rpt_confusion mart and the report).
- `id_cross_validation`: stratified k-fold CV over the ID human labels; accepted LLM labels are
  added to every TRAINING fold and never appear in a test fold.
- `evaluate_ood`: a fitted model on the held-out OOD test half.
- `diversity`: 1 - mean |Pearson r| between sample feature vectors (rows), subsampled.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from python_jobs.features.sets import stack_rows
from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.learning.logreg import CLASSES, N_CLASSES, LogRegParams, encode_labels

FitPredict = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Macro-F1 over the three classes (a class absent from both truth and prediction scores 0),
    per-class F1/precision/recall, accuracy, support and the confusion counts."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    labels = list(range(N_CLASSES))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    result = {
        "macro_f1": float(np.mean(f1)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "n": int(len(y_true)),
    }
    for i, name in enumerate(CLASSES):
        result[f"f1_{name}"] = float(f1[i])
        result[f"precision_{name}"] = float(precision[i])
        result[f"recall_{name}"] = float(recall[i])
        result[f"support_{name}"] = int(support[i])
    counts = confusion_matrix(y_true, y_pred, labels=labels) if len(y_true) else np.zeros((N_CLASSES, N_CLASSES))
    for i, true_name in enumerate(CLASSES):
        for j, predicted_name in enumerate(CLASSES):
            result[f"confusion_{true_name}_{predicted_name}"] = int(counts[i, j])
    return result


def fold_ensemble(params: LogRegParams, n_members: int, seed: int, fold: int) -> BaggedEnsemble:
    """The (unfitted) ensemble of one ID-CV fold: seeded by the run's seed and the fold, so a
    fold's members are the same in every round."""
    return BaggedEnsemble(n_members=n_members, params=params, seed=seed * 1000 + fold)


def ensemble_fit_predict(
    params: LogRegParams, n_members: int = 10, seed: int = 0
) -> FitPredict:
    """A FitPredict that trains a BaggedEnsemble (seeded per fold) and predicts argmax of the mean."""

    def fit_predict(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, fold: int) -> np.ndarray:
        return fold_ensemble(params, n_members, seed, fold).fit(X_train, y_train).predict(X_test)

    return fit_predict


def id_cv_splits(
    y_human: np.ndarray, n_llm: int, n_splits: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds over the concatenation [human (0..n_h-1), llm (n_h..n_h+n_llm-1)]: stratified
    folds over the human labels only (independent of the LLM labels, so rounds are comparable);
    every LLM index is in every training fold and in no test fold."""
    from sklearn.model_selection import StratifiedKFold

    y_human = np.asarray(y_human)
    n_h = len(y_human)
    llm_idx = np.arange(n_h, n_h + n_llm)
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [
        (np.concatenate([train, llm_idx]), test)
        for train, test in folds.split(np.zeros(n_h), y_human)
    ]


def _prefixed(prefix: str, metrics: dict) -> dict:
    return {f"{prefix}_{key}": value for key, value in metrics.items()}


def fit_fold_members(
    params: dict, n_members: int, seed: int, fold: int, members: range,
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
    warm_start: tuple[np.ndarray, np.ndarray] | None = None, keep_members: bool = True,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Some members of one ID-CV fold's ensemble (a picklable job for a process pool): the sum
    of their test probabilities (n, C) and, with ``keep_members``, their (coef_, intercept_) to
    warm-start later rounds' fold (on sparse rows ~2 MB a member, not worth sending back when
    unused). The fold's prediction is the argmax of the sum over all its members."""
    model = fold_ensemble(LogRegParams.from_dict(params), n_members, seed, fold)
    model.fit(X_train, y_train, warm_start=warm_start, members=members)
    probability_sum = model.predict_member_proba(X_test).sum(axis=0)
    return probability_sum, ((model.coef_, model.intercept_) if keep_members else None)


def id_cv_inputs(
    X_human: np.ndarray, y_human: np.ndarray, X_llm: np.ndarray | None, y_llm: np.ndarray | None,
    n_splits: int = 5, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """(X_all, y_all, y_human, folds): the stacked samples and the ID-CV folds over them."""
    y_human = encode_labels(y_human)
    n_llm = 0 if X_llm is None else X_llm.shape[0]
    X_all = X_human if n_llm == 0 else stack_rows([X_human, X_llm])
    y_all = y_human if n_llm == 0 else np.concatenate([y_human, encode_labels(y_llm)])
    return X_all, y_all, y_human, id_cv_splits(y_human, n_llm, n_splits, seed)


def id_cv_metrics(
    y_human: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], predictions: list[np.ndarray],
    n_llm: int, seconds: float,
) -> dict:
    """ID metrics from each fold's out-of-fold predictions (see id_cross_validation)."""
    y_human = encode_labels(y_human)
    out_of_fold = np.full(len(y_human), -1, dtype=np.int64)
    fold_scores = []
    for (_, test), pred in zip(folds, predictions):
        out_of_fold[test] = pred
        fold_scores.append(classification_metrics(y_human[test], pred)["macro_f1"])
    pooled = classification_metrics(y_human, out_of_fold)
    pooled["macro_f1_pooled"] = pooled.pop("macro_f1")
    return _prefixed("id", {
        **pooled,
        "macro_f1": float(np.mean(fold_scores)),
        "macro_f1_std": float(np.std(fold_scores)),
        "fold_macro_f1": [float(s) for s in fold_scores],
        "n_human": int(len(y_human)),
        "n_llm": int(n_llm),
        "n_splits": len(folds),
        "seconds": round(seconds, 3),
    })


def id_cross_validation(
    X_human: np.ndarray,
    y_human: np.ndarray,
    X_llm: np.ndarray | None,
    y_llm: np.ndarray | None,
    fit_predict: FitPredict | None = None,
    n_splits: int = 5,
    seed: int = 0,
    *,
    hyperparameters: dict | None = None,
    n_members: int = 10,
) -> dict:
    """ID metrics by stratified k-fold CV over the human labels; LLM labels only in training.

    Labels as class names or indices. The model is `fit_predict`, else a BaggedEnsemble of
    `n_members` with `hyperparameters` (a tune_hyperparameters() result). `seed` fixes the folds
    and the members' seeds: pass the run's seed (not a per-round one) to keep folds fixed
    across rounds. Keys are prefixed `id_`: id_macro_f1 (the mean of the per-fold macro-F1s),
    id_accuracy and id_f1_<class> (of all out-of-fold predictions pooled), id_fold_macro_f1,
    id_macro_f1_std, id_n_human, id_n_llm, id_seconds."""
    started = time.perf_counter()
    if fit_predict is None:
        params = LogRegParams.from_dict((hyperparameters or {}).get("params", hyperparameters or {}))
        fit_predict = ensemble_fit_predict(params, n_members, seed)
    X_all, y_all, y_human_codes, folds = id_cv_inputs(X_human, y_human, X_llm, y_llm, n_splits, seed)
    predictions = [fit_predict(X_all[train], y_all[train], X_all[test], fold)
                   for fold, (train, test) in enumerate(folds)]
    n_llm = len(y_all) - len(y_human_codes)
    return id_cv_metrics(y_human_codes, folds, predictions, n_llm, time.perf_counter() - started)


def evaluate_ood(model: BaggedEnsemble, X_test: np.ndarray, y_test: np.ndarray) -> dict:
    """Metrics of a fitted ensemble on the held-out OOD pairs; keys prefixed `ood_`."""
    return _prefixed("ood", classification_metrics(encode_labels(y_test), model.predict(X_test)))


def diversity(X: np.ndarray, max_samples: int = 2000, seed: int = 0) -> float:
    """1 - mean |Pearson r| between pairs of distinct rows (samples) of X.

    Rows are subsampled (seeded) to `max_samples`. Constant rows have no correlation and are
    skipped. Identical (non-constant) rows give 0; returns nan with fewer than 2 usable rows."""
    if X.shape[0] > max_samples:
        X = X[np.sort(np.random.default_rng(seed).choice(X.shape[0], size=max_samples, replace=False))]
    if hasattr(X, "toarray"):
        return _sparse_diversity(X)
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    centred = centred[norms > 1e-12] / norms[norms > 1e-12, None]
    n = len(centred)
    if n < 2:
        return float("nan")
    corr = np.clip(centred @ centred.T, -1.0, 1.0)
    off_diagonal_sum = np.abs(corr).sum() - np.trace(np.abs(corr))
    return float(1.0 - off_diagonal_sum / (n * (n - 1)))


def label_mix(y: np.ndarray) -> dict[str, int]:
    y = encode_labels(y) if len(y) else np.asarray(y)
    return {name: int((y == i).sum()) for i, name in enumerate(CLASSES)}


def _sparse_diversity(X) -> float:  # noqa: ANN001 - scipy sparse rows
    """`diversity` of sparse rows without densifying them: Pearson r of rows i, j over F columns is
    (x_i.x_j - F m_i m_j) / (F s_i s_j), from the Gram matrix X X^T and each row's mean and sd."""
    import scipy.sparse as sp

    X = sp.csr_matrix(X, dtype=np.float64)
    n_columns = X.shape[1]
    means = np.asarray(X.sum(axis=1)).ravel() / n_columns
    squares = np.asarray(X.multiply(X).sum(axis=1)).ravel() / n_columns
    sds = np.sqrt(np.maximum(squares - means**2, 0.0))
    usable = sds > 1e-12
    X, means, sds = X[usable], means[usable], sds[usable]
    n = X.shape[0]
    if n < 2:
        return float("nan")
    gram = np.asarray((X @ X.T).todense())
    corr = np.clip((gram / n_columns - np.outer(means, means)) / np.outer(sds, sds), -1.0, 1.0)
    off_diagonal_sum = np.abs(corr).sum() - np.trace(np.abs(corr))
    return float(1.0 - off_diagonal_sum / (n * (n - 1)))
