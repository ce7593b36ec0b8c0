"""The whole KARL loop in memory on the real FBL files (pandas only, no warehouse).

It is the reference for the warehouse loop (`karl run`): same features, model, acquisition,
replay annotation and evaluation, so the two should print the same kind of table, and
`benchmarks/round_overhead.py` times `run_inmemory_round` as "the plain in-memory loop".

- training (ID, D_H): FBL2023 pairs whose 3 judgements have a 3-class majority (>= 2 of 3 after
  mapping 1 -> substitute, 2-7 -> complement, 8-9 -> other);
- FBL2024 split by anchor item (ITEM_URL_1, seeded) into a pool half and a test half (OOD);
- candidates: the pool half; each round: train the bagged ensemble, score unqueried pool
  pairs by the strategy, take the top `budget`, replay-annotate them with their 3 recorded
  human judgements (accepted only if all 3 agree), add accepted ones to D_L; evaluate ID
  (5-fold CV, D_L only in training folds) and OOD (test half).

Usage: .venv/bin/python benchmarks/inmemory_loop.py --strategy margin --rounds 15 --budget 30
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from python_jobs.config import TuningConfig  # noqa: E402
from python_jobs.features.pairs import pair_features  # noqa: E402
from python_jobs.features.text import CharTfidfSvd  # noqa: E402
from python_jobs.learning.acquisition import uncertainty  # noqa: E402
from python_jobs.learning.ensemble import BaggedEnsemble  # noqa: E402
from python_jobs.learning.logreg import CLASSES, LogRegParams  # noqa: E402
from python_jobs.learning.tuning import tune_hyperparameters  # noqa: E402
from python_jobs.learning.evaluation import (  # noqa: E402
    diversity,
    ensemble_fit_predict,
    evaluate_ood,
    id_cross_validation,
    label_mix,
)
from python_jobs.warehouse.keys import (
    item_id_from_url,  # noqa: E402
    pair_key,  # noqa: E402
)

FBL9_TO_3 = {1: 0, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 2, 9: 2}  # -> index into CLASSES
FBL2024_TO_3 = {1: 0, 2: 1, 3: 2}
LABEL_COLUMNS = ["ANNOTATOR1_LABEL", "ANNOTATOR2_LABEL", "ANNOTATOR3_LABEL"]



def select_top_per_group(scores: np.ndarray, groups: np.ndarray, budget: int | None,
                         tie_keys: np.ndarray) -> np.ndarray:
    """Indices of the top-scoring candidate of every group, then the best `budget` of those;
    ties break by tie key ascending (karl's scorer does this streaming: learning/top_per_category.py).
    With groups=None every candidate is its own group (plain top-`budget`)."""
    if groups is None:
        groups = np.arange(len(scores))
    order = np.lexsort((np.asarray(tie_keys), -np.asarray(scores, dtype=np.float64)))
    seen: set = set()
    winners = [i for i in order if not (groups[i] in seen or seen.add(groups[i]))]
    return np.asarray(winners[: budget] if budget is not None else winners, dtype=np.int64)

def fbl_dir() -> Path:
    configured = os.environ.get("KARL_FBL_DIR")
    return Path(configured) if configured else PROJECT_DIR.parent / "shared" / "data" / "fbl_askul"


# --- data ----------------------------------------------------------------------------------


def _read(path: Path, mapping: dict[int, int]) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame["item_a_id"] = frame["ITEM_URL_1"].map(item_id_from_url)
    frame["item_b_id"] = frame["ITEM_URL_2"].map(item_id_from_url)
    frame = frame[frame["item_a_id"] != frame["item_b_id"]].copy()
    frame["pair_key"] = [pair_key(a, b) for a, b in zip(frame["item_a_id"], frame["item_b_id"])]
    frame = frame.drop_duplicates("pair_key", keep="first").reset_index(drop=True)
    judgements = np.full((len(frame), 3), -1, dtype=np.int64)
    for j, column in enumerate(LABEL_COLUMNS):
        values = pd.to_numeric(frame[column], errors="coerce")
        judgements[:, j] = [mapping.get(int(v), -1) if pd.notna(v) else -1 for v in values]
    frame["j0"], frame["j1"], frame["j2"] = judgements.T
    majority = np.full(len(frame), -1, dtype=np.int64)
    for c in range(len(CLASSES)):
        majority[(judgements == c).sum(axis=1) >= 2] = c
    frame["majority"] = majority
    frame["unanimous"] = np.where((judgements[:, 0] >= 0) & (judgements == judgements[:, :1]).all(axis=1),
                                  judgements[:, 0], -1)
    return frame


@dataclass
class LoopData:
    item_ids: list[str]
    vectors: np.ndarray  # (items, d)
    id_pairs: np.ndarray  # (n_h, 2) row indices into vectors
    id_y: np.ndarray
    pool_pairs: np.ndarray  # (n_pool, 2)
    pool_unanimous: np.ndarray  # -1 when the 3 judgements disagree
    pool_keys: np.ndarray
    test_pairs: np.ndarray
    test_y: np.ndarray
    feature_set: str
    X_id: np.ndarray = field(init=False)
    X_test: np.ndarray = field(init=False)
    X_pool: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.X_id = self.pair_x(self.id_pairs)
        self.X_test = self.pair_x(self.test_pairs)
        self.X_pool = self.pair_x(self.pool_pairs)

    def pair_x(self, pairs: np.ndarray) -> np.ndarray:
        return pair_features(self.vectors[pairs[:, 0]], self.vectors[pairs[:, 1]])


def split_by_anchor(anchors: pd.Series, seed: int) -> np.ndarray:
    """True for rows whose anchor item falls in the pool half (seeded permutation of anchors)."""
    unique = np.array(sorted(anchors.unique()))
    shuffled = np.random.default_rng(seed).permutation(unique)
    pool_anchors = set(shuffled[: len(unique) // 2])
    return anchors.isin(pool_anchors).to_numpy()


def load_loop_data(featuriser=None, seed: int = 0, data_dir: Path | None = None) -> LoopData:
    directory = data_dir or fbl_dir()
    fbl23 = _read(directory / "FBL2023.tsv", FBL9_TO_3)
    fbl24 = _read(directory / "FBL2024.tsv", FBL2024_TO_3)
    titles: dict[str, str] = {}
    for frame in (fbl23, fbl24):
        for side in ("1", "2"):
            ids = frame["item_a_id" if side == "1" else "item_b_id"]
            titles.update(zip(ids, frame[f"ITEM_NAME_{side}"]))
    item_ids = sorted(titles)
    featuriser = featuriser or CharTfidfSvd(seed=seed)
    vectors = featuriser.fit_transform([titles[i] for i in item_ids])
    row = {item_id: i for i, item_id in enumerate(item_ids)}

    def pairs_of(frame: pd.DataFrame) -> np.ndarray:
        return np.stack([frame["item_a_id"].map(row).to_numpy(), frame["item_b_id"].map(row).to_numpy()], axis=1)

    train = fbl23[fbl23["majority"] >= 0]
    in_pool = split_by_anchor(fbl24["item_a_id"], seed)
    pool = fbl24[in_pool]
    test = fbl24[~in_pool & (fbl24["majority"] >= 0)]
    return LoopData(
        item_ids=item_ids,
        vectors=vectors,
        id_pairs=pairs_of(train),
        id_y=train["majority"].to_numpy(),
        pool_pairs=pairs_of(pool),
        pool_unanimous=pool["unanimous"].to_numpy(),
        pool_keys=pool["pair_key"].to_numpy(),
        test_pairs=pairs_of(test),
        test_y=test["majority"].to_numpy(),
        feature_set=featuriser.feature_set,
    )


# --- the loop ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoopConfig:
    strategy: str = "margin"
    rounds: int = 15
    budget: int = 30
    n_members: int = 10
    seed: int = 0
    tuning: TuningConfig = TuningConfig()
    evaluate_id: bool = True
    n_groups: int = 0  # > 0: top pair per induced fine category (KMeans of anchor vectors)


@dataclass
class LoopState:
    params: LogRegParams
    tuning: dict
    queried: np.ndarray  # bool over pool rows
    groups: np.ndarray | None = None  # fine category of each pool row
    llm_rows: list[int] = field(default_factory=list)  # accepted pool rows (D_L)
    llm_y: list[int] = field(default_factory=list)


def start_loop(data: LoopData, config: LoopConfig) -> LoopState:
    tuning = tune_hyperparameters(data.X_id, data.id_y, replace(config.tuning, seed=config.seed))
    return LoopState(
        params=LogRegParams.from_dict(tuning["params"]),
        tuning=tuning,
        queried=np.zeros(len(data.pool_pairs), dtype=bool),
        groups=induce_groups(data, config.n_groups, config.seed) if config.n_groups > 0 else None,
    )


def induce_groups(data: LoopData, n_groups: int, seed: int) -> np.ndarray:
    """Fine category of each pool pair: KMeans cluster of its anchor item's vector (like the
    warehouse's induced categories, which cluster item vectors)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    anchors = np.unique(data.pool_pairs[:, 0])
    with threadpool_limits(1):
        labels = KMeans(n_clusters=min(n_groups, len(anchors)), n_init=4, random_state=seed).fit_predict(
            data.vectors[anchors])
    cluster_of = dict(zip(anchors.tolist(), labels.tolist()))
    return np.array([cluster_of[a] for a in data.pool_pairs[:, 0].tolist()])


def run_inmemory_round(data: LoopData, state: LoopState, config: LoopConfig, round_index: int) -> dict:
    """One round: train on D_H + D_L, evaluate ID/OOD, then score, select and replay-annotate
    the pool (so round t's metrics are those of the model trained on labels from rounds < t).
    Mutates `state` (queried, D_L) and returns the round's metrics."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    X_llm = data.X_pool[state.llm_rows] if state.llm_rows else data.X_pool[:0]
    y_llm = np.asarray(state.llm_y, dtype=np.int64)
    X_train = np.vstack([data.X_id, X_llm])
    y_train = np.concatenate([data.id_y, y_llm])
    seed = config.seed * 100_003 + round_index
    ensemble = BaggedEnsemble(n_members=config.n_members, params=state.params, seed=seed).fit(X_train, y_train)
    timings["train"] = time.perf_counter() - started

    t = time.perf_counter()
    metrics: dict = {"round_index": round_index, "strategy": config.strategy}
    if config.evaluate_id:
        fit_predict = ensemble_fit_predict(state.params, config.n_members, seed=config.seed)
        metrics.update(id_cross_validation(data.X_id, data.id_y, X_llm, y_llm, fit_predict, seed=config.seed))
    metrics.update(evaluate_ood(ensemble, data.X_test, data.test_y))
    metrics["diversity"] = diversity(X_train, seed=config.seed)
    timings["evaluate"] = time.perf_counter() - t

    t = time.perf_counter()
    candidates = np.flatnonzero(~state.queried)
    member_probs = ensemble.predict_member_proba(data.X_pool[candidates])
    scores = uncertainty(config.strategy, member_probs, data.pool_keys[candidates], seed=seed)
    groups = None if state.groups is None else state.groups[candidates]
    chosen = candidates[select_top_per_group(scores, groups, config.budget, tie_keys=data.pool_keys[candidates])]
    timings["score_select"] = time.perf_counter() - t

    state.queried[chosen] = True
    accepted = [int(r) for r in chosen if data.pool_unanimous[r] >= 0]
    state.llm_rows.extend(accepted)
    state.llm_y.extend(int(data.pool_unanimous[r]) for r in accepted)
    metrics.update(
        n_train=int(len(y_train)),
        n_llm=int(len(y_llm)),
        annotated=int(len(chosen)),
        accepted=len(accepted),
        yield_=len(accepted) / len(chosen) if len(chosen) else 0.0,
        accepted_mix=label_mix(data.pool_unanimous[accepted]),
        member_class_counts=ensemble.member_class_counts[0],
        seconds=timings,
        seconds_total=time.perf_counter() - started,
    )
    return metrics


def run_loop(data: LoopData, config: LoopConfig, verbose: bool = True) -> list[dict]:
    state = start_loop(data, config)
    if verbose:
        print(f"feature_set={data.feature_set} tuned={state.tuning['params']} "
              f"(cv {state.tuning['cv_macro_f1']:.4f}, {state.tuning['seconds']:.1f}s)")
        print(f"ID pairs {len(data.id_y)} {label_mix(data.id_y)} | pool {len(data.pool_pairs)} "
              f"(unanimous {int((data.pool_unanimous >= 0).sum())}) | test {len(data.test_y)} {label_mix(data.test_y)}")
        print(f"{'round':>5} {'n_llm':>5} {'ID_F1':>7} {'OOD_F1':>7} {'OOD_acc':>7} {'div':>6} "
              f"{'annot':>5} {'accpt':>5} {'sec':>6} {'train':>6} {'eval':>6} {'select':>6}")
    rows = []
    for round_index in range(config.rounds + 1):
        metrics = run_inmemory_round(data, state, config, round_index)
        rows.append(metrics)
        if verbose:
            id_f1 = metrics.get("id_macro_f1", float("nan"))
            print(f"{round_index:>5} {metrics['n_llm']:>5} {id_f1:>7.4f} {metrics['ood_macro_f1']:>7.4f} "
                  f"{metrics['ood_accuracy']:>7.4f} {metrics['diversity']:>6.3f} {metrics['annotated']:>5} "
                  f"{metrics['accepted']:>5} {metrics['seconds_total']:>6.2f} {metrics['seconds']['train']:>6.2f} "
                  f"{metrics['seconds']['evaluate']:>6.2f} {metrics['seconds']['score_select']:>6.2f}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", default="margin", choices=["margin", "qbc", "vote_entropy", "random"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--groups", type=int, default=0,
                        help="> 0: select the top pair per induced fine category (KMeans of anchors)")
    parser.add_argument("--no-id", action="store_true", help="skip the ID cross-validation (faster)")
    parser.add_argument("--tuning-trials", type=int, default=TuningConfig().n_trials,
                        help="hyperparameter search trials before round 0")
    args = parser.parse_args()
    started = time.perf_counter()
    data = load_loop_data(seed=args.seed)
    print(f"features: {time.perf_counter() - started:.1f}s")
    config = LoopConfig(strategy=args.strategy, rounds=args.rounds, budget=args.budget,
                        n_members=args.members, seed=args.seed, evaluate_id=not args.no_id,
                        n_groups=args.groups, tuning=TuningConfig(n_trials=args.tuning_trials))
    run_loop(data, config)


if __name__ == "__main__":
    main()
