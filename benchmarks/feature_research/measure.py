"""Feature sets x C x member sampling under karl's ID protocol; OOD only reported (issue 11).

ID = 5-fold stratified CV (seed 0) over the FBL2023 human labels, a bag of 10 members per fold;
"ID grouped" = the same with the folds grouped by anchor item. OOD = the FBL2024 test half, a bag
trained on all human labels; "OOD + pool" adds every labelled pool-half pair to training (the
ceiling the loop could reach with all the pool's labels). Pair rows come from karl's own
featuriser (features/sets.py), members from learning/logreg.py and learning/ensemble.py.

Usage (a built warehouse in KARL_DUCKDB_PATH; figures: docs/features.md):
    python benchmarks/feature_research/measure.py SPEC [SPEC ...]
SPEC = FEATURES@C@MEMBERS, e.g. char13@200@under, char13+overlap@1@under, char13@200@cap2
MEMBERS: under (karl: every class drawn down to the minority), capK (at most K x the minority,
class-weighted), boot (a bootstrap of all rows, class-weighted), single (one class-weighted LR).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from python_jobs.config import parse_features
from python_jobs.errors import KarlError
from python_jobs.features.sets import prepare_pair_features, stack_rows
from python_jobs.learning.ensemble import undersample_indices
from python_jobs.learning.logreg import LogRegParams, encode_labels, fit_logreg, logreg_proba
from python_jobs.learning.evaluation import classification_metrics
from python_jobs.loop import data as loop_data
from research_warehouse import open_built_warehouse


def member_rows(y: np.ndarray, rng: np.random.Generator, members: str) -> tuple[np.ndarray, str | None]:
    """The rows one member trains on and its class weight, for a MEMBERS mode."""
    if members == "under":
        return undersample_indices(y, rng), None
    if members == "boot":
        return np.sort(rng.choice(len(y), len(y))), "balanced"
    cap = int(float(members.removeprefix("cap")) * np.bincount(y).min())
    rows = [rng.choice(np.flatnonzero(y == c), min(cap, int((y == c).sum())), replace=False) for c in np.unique(y)]
    return np.sort(np.concatenate(rows)), "balanced"


def bag_proba(X_train, y_train, X_test, C: float, members: str, seed: int, n_members: int = 10) -> np.ndarray:  # noqa: ANN001
    if members == "single":
        coef, bias = fit_logreg(X_train, y_train, LogRegParams(C=C, class_weight="balanced"))
        return logreg_proba(X_test, coef, bias)
    total = 0
    for rng in (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_members)):
        rows, weight = member_rows(y_train, rng, members)
        coef, bias = fit_logreg(X_train[rows], y_train[rows], LogRegParams(C=C, class_weight=weight))
        total = total + logreg_proba(X_test, coef, bias)
    return total / n_members


def cv_macro_f1(X, y: np.ndarray, groups: np.ndarray | None, C: float, members: str) -> float:  # noqa: ANN001
    splitter = (StratifiedGroupKFold(5, shuffle=True, random_state=0) if groups is not None
                else StratifiedKFold(5, shuffle=True, random_state=0))
    scores = [classification_metrics(y[test], bag_proba(X[train], y[train], X[test], C, members, fold).argmax(1))["macro_f1"]
              for fold, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y, groups))]
    return float(np.mean(scores))


def parse_spec(spec: str) -> tuple[str, float, str]:
    """FEATURES@C@MEMBERS, or exit with a message naming what is wrong."""
    parts = spec.split("@")
    if len(parts) != 3:
        sys.exit(f"{spec!r}: a SPEC is FEATURES@C@MEMBERS, e.g. char13@200@under")
    features, C, members = parts
    try:
        parse_features(features)
    except KarlError as error:
        sys.exit(f"{spec!r}: {error}")
    try:
        C_value = float(C)
    except ValueError:
        sys.exit(f"{spec!r}: C must be a number, got {C!r}")
    if members not in ("under", "boot", "single") and not members.removeprefix("cap").replace(".", "", 1).isdigit():
        sys.exit(f"{spec!r}: MEMBERS is under, boot, single or capK (K a number), got {members!r}")
    return features, C_value, members


def main(specs: list[str]) -> None:
    parsed = [parse_spec(spec) for spec in specs]  # every SPEC checked before the first is measured
    con = open_built_warehouse()
    human, test = loop_data.id_human_labels(con), loop_data.ood_test_labels(con)
    pool = loop_data.LabelledPairs.from_frame(con.execute(
        "select pair_key, item_a_id, item_b_id, relation_label from marts.fct_eval_sets "
        "where eval_set = 'pool' and relation_label is not null order by pair_key").df())
    y_human, y_test, y_pool = (encode_labels(p.labels) for p in (human, test, pool))
    anchors = np.asarray(human.item_a_ids)
    print(f"ID {len(y_human)} pairs, OOD test {len(y_test)}, pool {len(y_pool)}", flush=True)
    for spec, (features, C, members) in zip(specs, parsed):
        started = time.perf_counter()
        rows = prepare_pair_features(con, features)
        X_human, X_test, X_pool = (rows.pair_matrix(p.item_a_ids, p.item_b_ids) for p in (human, test, pool))
        if not sp.issparse(X_human):
            X_human, X_test, X_pool = (np.asarray(x) for x in (X_human, X_test, X_pool))
        id_f1 = cv_macro_f1(X_human, y_human, None, C, members)
        id_grouped = cv_macro_f1(X_human, y_human, anchors, C, members)
        ood = classification_metrics(y_test, bag_proba(X_human, y_human, X_test, C, members, 0).argmax(1))
        with_pool = classification_metrics(y_test, bag_proba(
            stack_rows([X_human, X_pool]), np.concatenate([y_human, y_pool]), X_test, C, members, 0).argmax(1))
        print(f"{spec:28s} ID {id_f1:.3f}  ID grouped {id_grouped:.3f} | OOD {ood['macro_f1']:.3f} "
              f"(sub/compl/other {ood['f1_substitute']:.2f}/{ood['f1_complement']:.2f}/{ood['f1_other']:.2f})  "
              f"OOD + pool {with_pool['macro_f1']:.3f}  [{time.perf_counter() - started:.0f} s]", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
