"""The item-disjoint ID cross-validation: the ID figure for items never seen in training.

The shuffled ID CV (evaluation.id_cv_splits) puts pairs in folds at random, and FBL2023 reuses
items (2,023 items in 2,800 pairs), so most test pairs share an item with training pairs. Here
the folds are by anchor (item A): a fold tests the pairs of its anchors, and trains on the other
folds' pairs that share no item with any of its test pairs (pairs that span the fold are left
out of its training set; every pair is tested exactly once). Added labels (the run's accepted LLM
labels, pool pairs) train every fold they share no test item with.

FBL2023's pairs form one large connected graph of items, so a fold's training set loses every
pair touching its test items: with 10 folds it keeps ~44% of the base pairs (5 folds: 27%; the
shuffled CV trains on 80%). The figure therefore mixes "unseen items" with "fewer labels";
`id_item_disjoint_train_share` records how much each fold kept.
"""

from __future__ import annotations

import numpy as np

from python_jobs.features.sets import stack_rows
from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.learning.evaluation import classification_metrics
from python_jobs.learning.logreg import encode_labels

N_SPLITS = 10  # more folds, fewer test items per fold, larger training sets (see above)


def item_disjoint_folds(item_a_ids: np.ndarray, item_b_ids: np.ndarray, n_splits: int = N_SPLITS,
                        seed: int = 0) -> list[np.ndarray]:
    """Per fold, the indices of its test pairs: the pairs whose anchor is one of the fold's
    anchors (anchors dealt to folds in a seeded random order)."""
    anchors = np.unique(np.asarray(item_a_ids, dtype=object).astype(str))
    order = np.random.default_rng(seed).permutation(len(anchors))
    fold_of_anchor = {anchors[position]: rank % n_splits for rank, position in enumerate(order)}
    folds = np.array([fold_of_anchor[str(anchor)] for anchor in item_a_ids], dtype=np.int64)
    return [np.flatnonzero(folds == fold) for fold in range(n_splits)]


def _touches(item_a_ids: np.ndarray, item_b_ids: np.ndarray, items: set[str]) -> np.ndarray:
    a = np.asarray(item_a_ids, dtype=object).astype(str)
    b = np.asarray(item_b_ids, dtype=object).astype(str)
    return np.fromiter((x in items or y in items for x, y in zip(a, b)), dtype=bool, count=len(a))


def item_disjoint_macro_f1(x_human: object, y_human: np.ndarray, human_items: tuple[np.ndarray, np.ndarray],
                           x_added: object, y_added: np.ndarray, added_items: tuple[np.ndarray, np.ndarray],
                           hyperparameters: dict, members: int, seed: int) -> dict[str, float | int]:
    """Macro-F1 over every base pair, each predicted by an ensemble trained without any pair
    touching its items; also the mean share of the base pairs a fold's training set keeps."""
    y_human_codes = encode_labels(y_human)
    y_added_codes = encode_labels(y_added) if len(y_added) else np.zeros(0, dtype=np.int64)
    predictions = np.full(len(y_human_codes), -1, dtype=np.int64)
    kept_shares = []
    for fold, test in enumerate(item_disjoint_folds(*human_items, seed=seed)):
        if not len(test):
            continue
        test_items = set(np.asarray(human_items[0][test], dtype=object).astype(str)) | set(
            np.asarray(human_items[1][test], dtype=object).astype(str))
        train = np.flatnonzero(~_touches(*human_items, test_items))
        added = np.flatnonzero(~_touches(*added_items, test_items)) if len(y_added_codes) else np.zeros(0, dtype=np.int64)
        kept_shares.append(len(train) / len(y_human_codes))
        x_train = stack_rows([x_human[train], x_added[added]]) if len(added) else x_human[train]
        y_train = np.concatenate([y_human_codes[train], y_added_codes[added]])
        ensemble = BaggedEnsemble(n_members=members, hyperparameters=hyperparameters, seed=seed * 1000 + 900 + fold)
        predictions[test] = ensemble.fit(x_train, y_train).predict(x_human[test])
    metrics = classification_metrics(y_human_codes, predictions)
    return {"id_item_disjoint_macro_f1": float(metrics["macro_f1"]),
            "id_item_disjoint_train_share": float(np.mean(kept_shares)) if kept_shares else 0.0}
