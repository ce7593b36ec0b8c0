"""Re-choosing the model for the domain the labels come from (`--rechoose-from N`, docs/features.md).

The seed labels come from one catalogue and the run's acquired (LLM) labels from the pool's, so a
CV over the seed labels cannot see the shift between them; a CV over the acquired labels can. From
the round where the run has acquired N labels, every candidate model (FEATURES@C@FAMILY, and the
run's own model with its tuned hyperparameters) is scored by a stratified k-fold CV over the
acquired labels: each fold trains a bag on the seed labels plus the other acquired folds and is
scored only on its held-out acquired labels (macro-F1 over the pooled held-out predictions). The
candidate with the best CV figure is the round's choice; ties keep the run's own model.

OOD chooses nothing: each candidate's OOD macro-F1 (a bag trained on seed + all acquired labels,
scored on the held-out eval pairs) is recorded beside its CV figure, so the marts show how the
fixed model and the re-chosen one do on the same labels. The run keeps selecting with its own
model: the choice is measured, paired with the fixed model, not fed back into acquisition.

Each candidate's figures are the run artifact `model_choice@<round>#<k>` (k = 0: the run's own
model), read by marts.fct_round_model_choices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from python_jobs.config import parse_model_candidate
from python_jobs.features.sets import (
    PairFeatures,
    catalog_items_sql,
    prepare_pair_features,
    stack_rows,
)
from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.learning.evaluation import classification_metrics
from python_jobs.learning.logreg import N_CLASSES, LogRegParams, encode_labels
from python_jobs.loop import data

ARTIFACT_PREFIX = "model_choice@"
CV_FOLDS = 5


@dataclass(frozen=True)
class Candidate:
    """A model to score: its spec, pair features and member hyperparameters."""

    spec: str
    features: str
    params: LogRegParams
    is_run_model: bool = False

    @property
    def dense(self) -> bool:
        return self.params.family != "logreg"


def candidates(run) -> list[Candidate]:  # noqa: ANN001 - loop.steps.Run
    """The run's own model first, then each --rechoose-candidates spec that differs from it."""
    own = LogRegParams.from_dict(run.hyperparameters.get("params", run.hyperparameters))
    own = LogRegParams.from_dict(own.to_dict() | {"family": run.config.model_family})
    chosen = [Candidate(f"{run.config.features}@tuned@{run.config.model_family}", run.config.features, own, True)]
    for spec in run.config.rechoose_candidates:
        features, c_value, family = parse_model_candidate(spec)
        params = LogRegParams.from_dict(own.to_dict() | {"C": c_value, "family": family})
        if (features, params) != (chosen[0].features, chosen[0].params):
            chosen.append(Candidate(spec, features, params))
    return chosen


def acquired_label_cv(x_seed: object, y_seed: np.ndarray, x_acquired: object, y_acquired: np.ndarray,
                      params: LogRegParams, members: int, seed: int) -> tuple[float, int] | None:
    """(macro-F1 over the held-out acquired labels, folds); None when no CV is possible: the
    largest acquired class has fewer than two labels, or some fold's training set (seed labels
    plus the other acquired folds) lacks a class the members need."""
    folds = min(CV_FOLDS, int(np.bincount(y_acquired).max()))
    if folds < 2:
        return None
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y_acquired)), y_acquired))
    if any(len(np.unique(np.concatenate([y_seed, y_acquired[train]]))) < N_CLASSES for train, _ in splits):
        return None
    predicted = np.empty(len(y_acquired), dtype=int)
    for fold, (train, test) in enumerate(splits):
        bag = BaggedEnsemble(n_members=members, params=params, seed=seed * 1000 + fold)
        bag.fit(stack_rows([x_seed, x_acquired[train]]), np.concatenate([y_seed, y_acquired[train]]))
        predicted[test] = bag.predict(x_acquired[test])
    return float(classification_metrics(y_acquired, predicted)["macro_f1"]), folds


def choose_model(run, round_index: int, state: object) -> None:  # noqa: ANN001 - loop.steps.Run, RoundState
    """The round's re-choice (a step of the round when --rechoose-from is set): nothing before
    the run has acquired `rechoose_from` labels; then every candidate's CV and OOD figures."""
    config = run.config
    acquired = data.added_labels(run.con, config.run_id, round_index)
    if config.rechoose_from is None or len(acquired) < config.rechoose_from:
        return
    seed_labels = run.base_labels()
    y_seed, y_acquired = encode_labels(seed_labels.labels), encode_labels(acquired.labels)
    ood = data.ood_test_labels(run.con)
    rows = []
    for candidate in candidates(run):
        features = _pair_features(run, candidate.features)

        def matrix(pairs: data.LabelledPairs) -> object:
            return features.pair_matrix(pairs.item_a_ids, pairs.item_b_ids, dense=candidate.dense)  # noqa: B023

        x_seed, x_acquired = matrix(seed_labels), matrix(acquired)
        cv = acquired_label_cv(x_seed, y_seed, x_acquired, y_acquired, candidate.params, config.members,
                               config.seed * 1000 + round_index)
        if cv is None:
            return
        ood_f1 = None
        if len(ood):
            bag = BaggedEnsemble(n_members=config.members, params=candidate.params, seed=config.seed * 1000 + round_index)
            bag.fit(stack_rows([x_seed, x_acquired]), np.concatenate([y_seed, y_acquired]))
            ood_f1 = float(classification_metrics(encode_labels(ood.labels), bag.predict(matrix(ood)))["macro_f1"])
        rows.append({"round_index": round_index, "candidate_spec": candidate.spec, "features": candidate.features,
                     "c_value": candidate.params.C, "model_family": candidate.params.family,
                     "is_run_model": candidate.is_run_model, "n_acquired_labels": int(len(y_acquired)),
                     "cv_folds": cv[1], "acquired_cv_macro_f1": cv[0], "ood_macro_f1": ood_f1})
    best = max(range(len(rows)), key=lambda k: (rows[k]["acquired_cv_macro_f1"], rows[k]["is_run_model"]))
    for k, row in enumerate(rows):
        run.store.store_artifact(f"{ARTIFACT_PREFIX}{round_index:03d}#{k}",
                                 row | {"candidate_index": k, "is_chosen": k == best})


def _pair_features(run, name: str) -> PairFeatures:  # noqa: ANN001
    """The run's own pair features, or a candidate's (prepared once per run, on the run's items)."""
    if name == run.config.features:
        return run.pair_features
    prepared = run.__dict__.setdefault("_candidate_pair_features", {})
    if name not in prepared:
        prepared[name] = prepare_pair_features(run.con, name, seed=run.config.seed, dense_feature_set=run.feature_set,
                                               items_sql=catalog_items_sql(run.config.catalog))
    return prepared[name]
