"""The item-disjoint ID CV: folds by anchor, no training pair touches a test pair's items, every
pair tested once; on pairs whose label is a property of a shared item, it scores below the
shuffled CV (which sees the item in training), as it should."""

from __future__ import annotations

import numpy as np

from python_jobs.learning.evaluation import classification_metrics, id_cv_splits
from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.learning.item_disjoint_cv import item_disjoint_folds, item_disjoint_macro_f1
from python_jobs.learning.logreg import CLASSES, encode_labels

HYPERPARAMETERS = {"C": 1.0, "class_weight": None}


def pairs(n_anchors: int = 60, partners: int = 6, seed: int = 0):
    """Anchors with a few partners each; an item's one-hot row is its identity, and a pair's label
    is its anchor's class (so a model can only learn it by having seen the anchor)."""
    rng = np.random.default_rng(seed)
    items = [f"i{k}" for k in range(n_anchors * 2)]
    item_a, item_b, labels = [], [], []
    for anchor in range(n_anchors):
        for _ in range(partners):
            item_a.append(items[anchor])
            item_b.append(items[n_anchors + int(rng.integers(n_anchors))])
            labels.append(CLASSES[anchor % 3])
    index = {item: k for k, item in enumerate(items)}
    x = np.zeros((len(item_a), len(items)))
    for row, (a, b) in enumerate(zip(item_a, item_b)):
        x[row, index[a]] = 1.0
        x[row, index[b]] = 0.5
    return x, np.array(labels, dtype=object), np.array(item_a, dtype=object), np.array(item_b, dtype=object)


def test_folds_test_every_pair_once_by_anchor() -> None:
    _, _, item_a, item_b = pairs()
    folds = item_disjoint_folds(item_a, item_b, seed=3)
    tested = np.concatenate(folds)
    assert sorted(tested.tolist()) == list(range(len(item_a)))
    for test in folds:
        others = np.setdiff1d(np.arange(len(item_a)), test)
        assert not set(item_a[test]) & set(item_a[others])  # an anchor lives in one fold


def test_unseen_anchors_score_near_chance_while_the_shuffled_cv_sees_them() -> None:
    x, y, item_a, item_b = pairs()
    figures = item_disjoint_macro_f1(x, y, (item_a, item_b), x[:0], y[:0], (item_a[:0], item_b[:0]),
                                     HYPERPARAMETERS, members=3, seed=0)
    assert 0.0 < figures["id_item_disjoint_train_share"] < 0.8
    codes = encode_labels(y)
    shuffled = np.full(len(y), -1)
    for fold, (train, test) in enumerate(id_cv_splits(codes, 0, 5, 0)):
        shuffled[test] = BaggedEnsemble(n_members=3, hyperparameters=HYPERPARAMETERS, seed=fold).fit(
            x[train], codes[train]).predict(x[test])
    shuffled_f1 = classification_metrics(codes, shuffled)["macro_f1"]
    assert shuffled_f1 > 0.9
    assert figures["id_item_disjoint_macro_f1"] < 0.6
