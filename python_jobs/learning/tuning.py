"""The hyperparameter search of the members: optuna TPE on stratified k-fold macro-F1 of the
human ID labels (run once per run; its result is a run artifact)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from python_jobs.config import TuningConfig
from python_jobs.learning.logreg import N_CLASSES, LogRegParams, encode_labels, fit_logreg, is_sparse, logreg_proba


def tune_hyperparameters(
    X: np.ndarray,
    y: np.ndarray | Sequence[str],
    config: TuningConfig | None = None,
    *,
    n_trials: int | None = None,
    seed: int | None = None,
) -> dict:
    """Bayesian optimisation (optuna TPE, seeded) of LR hyperparameters on stratified k-fold
    macro-F1 of the human ID labels (y: class names or indices). Returns a plain JSON-able dict
    (store it per run; pass it as `BaggedEnsemble(hyperparameters=...)`)."""
    import optuna

    config = config or TuningConfig()
    if n_trials is not None:
        config = replace(config, n_trials=n_trials)
    if seed is not None:
        config = replace(config, seed=seed)
    X = X if is_sparse(X) else np.asarray(X)
    y = encode_labels(y)
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    folds = list(StratifiedKFold(config.n_splits, shuffle=True, random_state=config.seed).split(np.zeros(len(y)), y))

    def objective(trial: optuna.Trial) -> float:
        params = LogRegParams(
            C=trial.suggest_float("C", config.C_low, config.C_high, log=True),
            class_weight=(
                trial.suggest_categorical("class_weight", ["none", "balanced"]) if config.tune_class_weight else "none"
            ),
            standardize=trial.suggest_categorical("standardize", [True, False]) if config.tune_standardize else True,
        )
        params = LogRegParams(
            C=params.C, class_weight=None if params.class_weight == "none" else params.class_weight,
            standardize=params.standardize,
        )
        scores = []
        for fold, (train, test) in enumerate(folds):
            coef, intercept = fit_logreg(X[train], y[train], params)
            pred = logreg_proba(X[test], coef, intercept).argmax(axis=1)
            scores.append(f1_score(y[test], pred, average="macro", labels=list(range(N_CLASSES))))
            # Median pruning stops hopeless trials after a fold or two (deterministic too).
            trial.report(float(np.mean(scores)), step=fold)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=config.n_trials)
    best = dict(study.best_params)
    params = LogRegParams(
        C=float(best["C"]),
        class_weight=None if best.get("class_weight", "none") == "none" else best["class_weight"],
        standardize=bool(best.get("standardize", True)),
    )
    return {
        "params": params.to_dict(),
        "cv_macro_f1": float(study.best_value),
        "n_trials": config.n_trials,
        "n_splits": config.n_splits,
        "seed": config.seed,
        "n_samples": int(len(y)),
        "seconds": round(time.perf_counter() - started, 3),
        "trials": [{"params": t.params, "value": t.value, "state": t.state.name} for t in study.trials],
    }
