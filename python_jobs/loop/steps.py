"""The five steps of a round, one function each: train, select, annotate, build, evaluate.

Each takes the run (`Run`: loop.runner.Orchestrator), the round index and the round's in-memory state.
A step's effects are rows in raw tables (through the run store); what a step computes in
memory (the ensemble, the ID CV in flight) is recomputed deterministically when a resumed
process needs it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol

import duckdb
import numpy as np

from python_jobs import warehouse
from python_jobs.annotation.base import Annotator, BudgetExhausted, CallContext
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.config import EngineSettings, RunConfig
from python_jobs.errors import KarlError
from python_jobs.faults.sentences import find_fault
from python_jobs.features.sets import PairFeatures, stack_rows
from python_jobs.features.vectors import ItemVectors
from python_jobs.learning import (
    acquisition,
    batch_selection,
    evaluation,
    scoring,
    scoring_rows,
)
from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.learning.item_disjoint_cv import item_disjoint_macro_f1
from python_jobs.learning.logreg import warm_starts_help
from python_jobs.loop import data
from python_jobs.loop.builds import ROUND_BUILD_ARGS
from python_jobs.loop.id_cv import IdCrossValidation, MemberWeights, RunningCv
from python_jobs.loop.model_choice import choose_model
from python_jobs.loop.run_store import RunStore, now
from python_jobs.prediction.recording import record_final_model

ID_CV_SPLITS = 5  # the ID cross-validation's stratified folds (learning/evaluation.id_cv_splits)
# Pool predictions kept per round for the stopping signal: a fixed hash sample of the pool.
POOL_PREDICTION_SAMPLE = 20_000


class RunStopped(KarlError):
    """The run stopped before its last round, with a reason for the user."""


@dataclass
class RoundState:
    """What one round has computed in this process (recomputed deterministically on resume)."""

    ensemble: BaggedEnsemble | None = None
    id_cv: RunningCv | None = None
    metrics: dict = field(default_factory=dict)


class Run(Protocol):
    """What the steps need of a run (loop.runner.Orchestrator)."""

    con: duckdb.DuckDBPyConnection
    config: RunConfig
    engine: EngineSettings
    store: RunStore
    vectors: ItemVectors
    pair_features: PairFeatures
    hyperparameters: dict
    id_cv: IdCrossValidation
    round0_ensemble: MemberWeights | None

    def training_arrays(self, round_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...

    def base_labels(self) -> data.LabelledPairs: ...

    def pair_matrix(self, item_a_ids: np.ndarray, item_b_ids: np.ndarray) -> object: ...

    def round0_members(self) -> MemberWeights: ...

    def reference_labels(self) -> dict[str, str]: ...

    def annotator(self) -> Annotator: ...

    def build(self, args: list[str]) -> float: ...


Step = Callable[[Run, int, RoundState], None]


def fitted(run: Run, round_index: int, state: RoundState) -> BaggedEnsemble:
    """The round's ensemble, fitted on first need (train, or select/evaluate after a resume),
    with the round's ID CV started beside it."""
    if state.ensemble is None:
        x_human, y_human, x_added, y_added = run.training_arrays(round_index)
        warm = warm_starts_help(x_human, run.config.model_family)
        warm_start = run.round0_members() if round_index > 0 and warm else None
        # The CV folds go to the workers first, so they run while this process fits the members.
        # Too few base labels of a class for its folds (a cold start): no ID CV, NULL ID figures.
        if _id_cv_possible(y_human):
            state.id_cv = run.id_cv.start(round_index, run.hyperparameters, x_human, y_human, x_added, y_added)
        ensemble = BaggedEnsemble(n_members=run.config.members, hyperparameters=run.hyperparameters,
                                  seed=run.config.seed * 1000 + round_index)
        ensemble.fit(stack_rows([x_human, x_added]), np.concatenate([y_human, y_added]), warm_start=warm_start)
        if round_index == 0 and warm:
            run.round0_ensemble = (ensemble.coef_, ensemble.intercept_)
        state.ensemble = ensemble
    return state.ensemble


def train(run: Run, round_index: int, state: RoundState) -> None:
    """Fit the bagged ensemble on the human labels plus this run's accepted labels of earlier
    rounds; record each member's class counts (raw.bag_members, checked balanced by dbt)."""
    ensemble = fitted(run, round_index, state)
    run.store.record_bag_members(round_index, ensemble.member_class_counts)
    if round_index == run.config.rounds:  # the run's final model: what `karl predict` scores with
        record_final_model(run, run.config.run_id, round_index, ensemble, run.config.model_family)


def select(run: Run, round_index: int, state: RoundState) -> None:
    """Stream the candidate pool through the ensemble, keep the most uncertain pair per fine
    category, cap by the budget; record the picks and the pool's predicted classes."""
    ensemble = fitted(run, round_index, state)
    config = run.config
    stamp = now()
    # First: the context strategy reads this round's pool drift from them.
    _record_pool_predictions(run, round_index, ensemble, stamp)
    uncertainty = acquisition.strategy_uncertainty(config.strategy, config.seed * 1000 + round_index,
                                                   config.qbc_measure)
    sql, params = scoring.candidate_pairs_sql(config.run_id)
    batch = config.strategy in batch_selection.BATCH_STRATEGIES
    # A batch strategy chooses among the top BATCH_PER_CATEGORY pairs of every fine category.
    per_category = batch_selection.BATCH_PER_CATEGORY if batch else 1
    kernel = _scan_kernel(run)
    if kernel is not None:
        vectors, layout = kernel
        weights, bias = ensemble.stacked_weights()
        if run.engine.engine == "spark":
            from python_jobs.spark.scoring import score_duckdb_candidates_on_spark

            kept, _ = score_duckdb_candidates_on_spark(run.con, sql, params, weights, bias, config.members, vectors,
                                                       uncertainty, per_category=per_category, config=config.scoring,
                                                       layout=layout)
        else:
            kept, _ = scoring.score_candidates(run.con, sql, weights, bias, config.members, vectors, uncertainty,
                                               per_category=per_category, config=config.scoring, params=params,
                                               layout=layout)
    else:
        kept, _ = scoring_rows.score_candidates_by_rows(
            run.con, sql, run.pair_matrix, ensemble.predict_member_proba, run.vectors, uncertainty,
            per_category=per_category, config=config.scoring, params=params)
    chosen = _batch_picks(run, round_index, kept) if batch else kept[: config.budget]
    reference = run.reference_labels()
    run.store.record_selections([
        (config.run_id, round_index, pick["pair_key"], pick["item_a_id"], pick["item_b_id"],
         pick["fine_category"], config.strategy, float(pick["uncertainty_score"]),
         reference.get(pick["pair_key"]), stamp)
        for pick in chosen
    ])


def _batch_picks(run: Run, round_index: int, kept: list[dict]) -> list[dict]:
    """k-center or context-aware picks among the scorer's shortlist (learning/batch_selection.py).
    What chose them is the run artifact strategy@<round>: for context, the novelty weight, the
    pool drift it came from and the rule's constants."""
    if not kept:
        return []
    config = run.config
    matrix = run.vectors.matrix
    rows = run.vectors.rows
    embeddings = batch_selection.pair_embedding(
        matrix[rows(np.asarray([k["item_a_id"] for k in kept], dtype=object))],
        matrix[rows(np.asarray([k["item_b_id"] for k in kept], dtype=object))])
    human = run.base_labels()
    added = data.added_labels(run.con, config.run_id, round_index)
    labelled = batch_selection.pair_embedding(
        matrix[rows(np.concatenate([human.item_a_ids, added.item_a_ids]))],
        matrix[rows(np.concatenate([human.item_b_ids, added.item_b_ids]))])
    uncertainty = np.asarray([k["uncertainty_score"] for k in kept], dtype=np.float64)
    keys = [k["pair_key"] for k in kept]
    categories = [k["fine_category"] for k in kept]
    record: dict[str, object] = {
        "strategy": config.strategy, "n_labelled": int(len(labelled)),
        "n_shortlisted": min(len(kept), batch_selection.SHORTLIST_FACTOR * config.budget)}
    if config.strategy == "kcenter":
        picks = batch_selection.kcenter_batch(embeddings, uncertainty, keys, categories, labelled, config.budget)
    else:
        rule = batch_selection.NoveltyRule()
        drift = run.store.pool_drift(round_index)
        weight = batch_selection.novelty_weight(drift, rule)
        picks, _ = batch_selection.context_batch(embeddings, uncertainty, keys, categories, labelled,
                                                 config.budget, weight)
        record |= {"pool_drift": drift, "novelty_weight": weight, "rule": asdict(rule)}
    if len(picks):
        record["mean_novelty_of_picks"] = float(batch_selection.min_distances(embeddings[picks], labelled).mean())
        record["mean_uncertainty_of_picks"] = float(uncertainty[picks].mean())
    run.store.store_artifact(f"strategy@{round_index:03d}", record)
    return [kept[int(i)] for i in picks]


def _scan_kernel(run: Run) -> tuple | None:
    """(item vectors, pair layout) of the stacked linear scorer when it applies: linear members
    on item-vector blocks only (features svd, embeddings or char13; dense or sparse kernel). Other
    sets (overlap columns, hgb members) score through their pair rows."""
    if run.config.model_family != "logreg":
        return None
    return run.pair_features.scan_kernel()


def _record_pool_predictions(run: Run, round_index: int, ensemble: BaggedEnsemble, stamp: object) -> None:
    """The ensemble's class for a fixed hash sample of the pool (all of it when small): the
    stopping signal compares these between rounds. The sample's mean margin uncertainty is the
    run artifact pool_uncertainty@<round> (the overall-uncertainty stopping rule)."""
    sample = data.pool_sample(run.con, run.config.seed, POOL_PREDICTION_SAMPLE)
    if sample.empty:
        return
    kernel = _scan_kernel(run)
    if kernel is not None:
        vectors, layout = kernel
        member_probs = scoring.score_candidate_frame(ensemble, vectors, sample, run.config.scoring, layout=layout)
    else:
        member_probs = scoring_rows.score_frame_by_rows(run.pair_matrix, ensemble.predict_member_proba, sample,
                                                        run.config.scoring.chunk_rows)
    mean_probs = member_probs.mean(axis=0)
    frame = sample[["pair_key"]].assign(predicted_class=np.asarray(ensemble.classes_)[mean_probs.argmax(axis=1)])
    run.store.record_pool_predictions(round_index, frame, stamp)
    top2 = np.sort(mean_probs, axis=1)[:, -2:]
    run.store.store_artifact(f"pool_uncertainty@{round_index:03d}", {
        "mean_margin_uncertainty": float((1.0 - (top2[:, 1] - top2[:, 0])).mean()), "n_pairs": int(len(sample))})


def annotate(run: Run, round_index: int, state: RoundState) -> None:
    """K independent calls per selected pair, each recorded in raw.llm_calls as it completes."""
    pairs = data.pairs_to_annotate(run.con, run.config.run_id, round_index)
    context = CallContext(run.config.run_id, round_index, run.config.k_calls)
    try:
        run.annotator().annotate(pairs, context, DuckDBCallSink(run.con))
    except BudgetExhausted as error:
        raise RunStopped(
            f"Round {round_index} stopped at the cost budget: {error}. Every call made so far is recorded; "
            f"`karl run --resume {run.config.run_id} --max-cost <more>` sends only the missing calls.") from error


def build(run: Run, round_index: int, state: RoundState) -> None:
    """dbt: consensus, the next training set, the label snapshot and the round invariants."""
    try:
        run.build(ROUND_BUILD_ARGS)
    except warehouse.DbtFailedError as error:
        if find_fault(error) is not None:
            raise  # the machine refused (a full disk, ...), no invariant: the CLI names the fault
        raise RunStopped(
            f"An invariant failed after round {round_index}'s annotations; the run stops here "
            f"(fix the cause, then `karl run --resume {run.config.run_id}`):\n  "
            + "\n  ".join(error.failures)) from error


def evaluate(run: Run, round_index: int, state: RoundState) -> None:
    """ID macro-F1 from the round's CV, OOD macro-F1 on the held-out test half, the training
    set's diversity and the round's annotation figures, into raw.round_metrics."""
    ensemble = fitted(run, round_index, state)
    x_human, y_human, x_added, y_added = run.training_arrays(round_index)
    metrics: dict[str, object] = {}
    # This process's own work first, while the workers finish the ID CV. No OOD labels (a
    # catalogue without a held-out set) or no ID CV (too few base labels): NULL figures.
    ood_metrics = ood_figures(run, ensemble)
    diversity = evaluation.diversity(stack_rows([x_human, x_added]), seed=run.config.seed)
    running = state.id_cv
    if running is not None:
        results = run.id_cv.results(round_index, running)
        metrics.update(evaluation.id_cv_metrics(
            y_human, running.folds, [predictions for predictions, _ in results], running.n_added,
            time.perf_counter() - running.started))
    metrics.update(ood_metrics)
    if running is not None and round_index in (0, run.config.rounds):
        metrics.update(item_disjoint_figures(run, round_index, x_human, y_human, x_added, y_added))
    metrics["diversity"] = diversity
    metrics["n_training_labels"] = int(len(y_human) + len(y_added))
    metrics["n_added_labels"] = int(len(y_added))
    metrics.update(run.store.annotation_stats(round_index))
    run.store.record_round_metrics(round_index, metrics)
    state.metrics = metrics


def item_disjoint_figures(run: Run, round_index: int, x_human: object, y_human: np.ndarray,
                          x_added: object, y_added: np.ndarray) -> dict[str, float | int]:
    """The item-disjoint ID CV (learning/item_disjoint_cv.py) beside the shuffled one: at round 0
    and the last round only (five more ensemble fits each)."""
    human = run.base_labels()
    added = data.added_labels(run.con, run.config.run_id, round_index)
    return item_disjoint_macro_f1(x_human, y_human, (human.item_a_ids, human.item_b_ids), x_added, y_added,
                                  (added.item_a_ids, added.item_b_ids), run.hyperparameters, run.config.members,
                                  run.config.seed)


def _id_cv_possible(y_human: np.ndarray) -> bool:
    """Every class has at least one label per ID-CV fold (stratified 5-fold)."""
    from python_jobs.labels import RELATION_CLASSES

    values, counts = np.unique(np.asarray(y_human, dtype=object).astype(str), return_counts=True)
    found = dict(zip(values.tolist(), counts.tolist()))
    return all(found.get(c, 0) >= ID_CV_SPLITS for c in RELATION_CLASSES)
OOD_DATASET_FIGURES = ("macro_f1", "accuracy", "f1_substitute", "f1_complement", "f1_other")


def ood_figures(run: Run, ensemble: BaggedEnsemble) -> dict[str, object]:
    """OOD figures over every eval dataset's held-out pairs (`ood_*`), and per eval dataset
    (`ood_by_dataset`: name -> the same figures and n_pairs). One eval dataset (the default,
    FBL2024's test half): its figures are the overall ones. No held-out pair: no OOD figure."""
    ood = data.ood_test_labels(run.con)
    if not len(ood):
        return {}
    figures = evaluation.evaluate_ood(ensemble, run.pair_matrix(ood.item_a_ids, ood.item_b_ids), ood.labels)
    names = data.ood_datasets(run.con)
    by_dataset: dict[str, dict] = {}
    for name in names:
        if len(names) == 1:
            part, own = ood, figures
        else:
            part = data.ood_test_labels(run.con, (name,))
            own = evaluation.evaluate_ood(ensemble, run.pair_matrix(part.item_a_ids, part.item_b_ids), part.labels)
        by_dataset[name] = {key: own[f"ood_{key}"] for key in OOD_DATASET_FIGURES} | {"n_pairs": len(part)}
    return figures | {"ood_by_dataset": by_dataset}


# The round, in order. The last round only trains and evaluates.
ROUND_STEPS: dict[str, Step] = {
    "train": train, "select": select, "annotate": annotate, "build": build, "evaluate": evaluate,
}
LAST_ROUND_SKIPS = frozenset({"select", "annotate", "build"})


def round_steps(config: RunConfig) -> dict[str, Step]:
    """The steps of this run's rounds: ROUND_STEPS, then the model re-choice when --rechoose-from is set."""
    return dict(ROUND_STEPS) | ({"choose_model": choose_model} if config.rechoose_from is not None else {})
