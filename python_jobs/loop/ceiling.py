"""The ceiling of a run: the same model (features, hyperparameters, members, seed) trained on the
base labels plus every labelled pair of the pool half, scored on the same OOD test half. With the
sampler (no pool datasets), the pool is the catalogue's candidates: the ceiling trains on a seeded
sample of CEILING_CANDIDATES of them with their reference labels (the simulated annotator's truth,
without its noise). What no strategy can beat by asking about the pool; the learning-curve figures of `karl experiment`
(marts.fct_experiment_runs) normalise a run's OOD gain between its round-0 floor and this.

Stored as the run's artifact 'ceiling' (raw.run_artifacts), once: a resumed experiment reads it."""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

import numpy as np

from python_jobs.errors import KarlError
from python_jobs.features.sets import stack_rows
from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.loop import data
from python_jobs.loop.run_store import RunStore
from python_jobs.loop.steps import Run, ood_figures

ARTIFACT = "ceiling"
# The ensemble seed of the ceiling fit: a round index no run reaches, so its bags are not any round's.
CEILING_ROUND = 999
# Candidates a sampler run's ceiling trains on: 20 times a 20-round run's 1,000 labels at budget 50.
CEILING_CANDIDATES = 20_000


class PreparedRun(Run, Protocol):
    store: RunStore

    def prepare(self) -> None: ...


def ceiling_key(run: PreparedRun, split_seed: int | None) -> str:
    """Runs that would fit the same ceiling share it (the strategies of one split and seed)."""
    return hashlib.sha256(json.dumps([split_seed, run.config.seed, run.config.members, run.config.features,
                                      run.config.model_family, run.hyperparameters,
                                      list(run.config.train_labels)], sort_keys=True, default=str)
                          .encode()).hexdigest()[:16]


def ceiling_pool(run: PreparedRun, limit: int = CEILING_CANDIDATES) -> data.LabelledPairs:
    """The pool half's labelled pairs; for a sampler run without pool datasets, up to `limit`
    candidates (a seeded sample) that have a reference label."""
    pool = data.pool_half_labels(run.con)
    if len(pool) or run.config.candidate_source != "sampler":
        return pool
    reference = run.reference_labels()
    frame = run.con.execute("""
        select pair_key, item_a_id, item_b_id from marts.fct_candidate_pairs
        order by hash(pair_key || '|' || ?), pair_key
    """, [str(run.config.seed)]).df()
    frame["relation_label"] = frame["pair_key"].map(reference)
    return data.LabelledPairs.from_frame(frame.dropna(subset=["relation_label"]).head(limit))


def fit_ceiling(run: PreparedRun) -> dict[str, object] | None:
    """The ceiling's figures on the split the warehouse holds now, or None when there is no
    labelled pool half or no OOD test half (a catalogue without labels)."""
    pool = ceiling_pool(run)
    if not len(pool) or not len(data.ood_test_labels(run.con)):
        return None
    base = run.base_labels()
    x = stack_rows([run.pair_matrix(base.item_a_ids, base.item_b_ids),
                    run.pair_matrix(pool.item_a_ids, pool.item_b_ids)])
    y = np.concatenate([base.labels, pool.labels])
    ensemble = BaggedEnsemble(n_members=run.config.members, hyperparameters=run.hyperparameters,
                              seed=run.config.seed * 1000 + CEILING_ROUND).fit(x, y)
    figures = ood_figures(run, ensemble)
    return {"ood_macro_f1": figures["ood_macro_f1"], "ood_by_dataset": figures.get("ood_by_dataset"),
            "n_pool_labels": len(pool), "n_base_labels": len(base)}


def record_ceiling(run: PreparedRun, memo: dict[str, dict]) -> dict | None:
    """The run's ceiling artifact, fitted unless stored or in `memo` (shared by an experiment's
    cells). A run found complete on resume was never prepared: prepare it first (its features,
    hyperparameters and this cell's split)."""
    stored = run.store.artifact(ARTIFACT)
    if stored is not None:
        return stored
    if run.pair_features is None or run.hyperparameters is None:
        run.prepare()
    split = run.store.eval_split()
    recorded = run.store.artifact("eval_split") or {}
    if recorded.get("split_seed") != split["split_seed"]:
        raise KarlError(f"the warehouse holds split {split['split_seed']}, run {run.config.run_id} was "
                           f"evaluated on split {recorded.get('split_seed')}: no ceiling fitted")
    key = ceiling_key(run, split["split_seed"])
    if key not in memo:
        figures = fit_ceiling(run)
        if figures is None:
            return None
        memo[key] = figures | {"split_seed": split["split_seed"], "n_test": split["n_test"]}
    run.store.store_artifact(ARTIFACT, memo[key])
    return memo[key]
