"""The KARL loop over the warehouse: prepare, then T rounds of the step table in loop/steps.py
(train -> select -> annotate -> build -> evaluate).

The orchestrator holds the one DuckDB connection and runs dbt in-process after each annotation
step, so consensus and training marts (and their invariant tests) are rebuilt before the next
round trains. Every completed step is recorded in raw.run_steps; a resumed run skips completed
steps, and annotators send only the calls still missing, so a crash (even kill -9) costs no call
twice. On `--engine spark` the DuckDB file stays this journal, and after every step the rows the
run added are published to Spark (spark/run_publishing.py); the run's marts are built there when it closes.

Round t trains on the human labels plus this run's labels accepted in rounds < t, evaluates
that model (ID and OOD), and - except in the last round - selects and annotates new pairs.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import Executor
from typing import Callable

import duckdb
import numpy as np
from tqdm.auto import tqdm

from python_jobs.annotation.base import Annotator
from python_jobs.annotation.factory import make_annotator
from python_jobs.candidates.categories import ensure_categories
from python_jobs.config import EngineSettings, RunConfig, TuningConfig
from python_jobs.errors import KarlError
from python_jobs.faults import activity
from python_jobs.features.sets import (
    PairFeatures,
    catalog_items_sql,
    empty_rows,
    prepare_pair_features,
)
from python_jobs.features.vectors import (
    ItemVectors,
    ensure_item_vectors,
    load_item_vectors,
)
from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.learning.logreg import LogRegParams
from python_jobs.learning.tuning import tune_hyperparameters
from python_jobs.loop import cold_start, data, run_store
from python_jobs.loop.builds import FULL_BUILD_ARGS, RUN_BUILD_ARGS, run_build, run_dbt_vars
from python_jobs.loop.id_cv import IdCrossValidation, MemberWeights
from python_jobs.loop.pool import CandidatePoolMemo
from python_jobs.loop.preflight import check_annotator
from python_jobs.loop.roles import check_roles, describe, n_judgements, without_absent_defaults
from python_jobs.loop.reference import reference_labels_for
from python_jobs.loop.steps import (
    LAST_ROUND_SKIPS,
    RoundState,
    RunStopped,
    Step,
    round_steps,
)
from python_jobs.loop.stopping import should_stop, should_stop_by_rule
from python_jobs.prediction.recording import record_final_model
from python_jobs.reporting.progress import (
    ABORTED,
    COMPLETED,
    STOPPED,
    RunProgress,
    RunSnapshot,
    publish_marts,
)
from python_jobs.spark.run_publishing import SparkRunMirror
from python_jobs.warehouse.connection import database_path


PREPARE_ROUND = -1
MARTS_PUBLISH_SECONDS = 20.0


class SplitChangedError(KarlError):
    """A resumed run would be evaluated on another pool/test split than it started on."""


__all__ = ["Orchestrator", "RunStopped", "RoundState", "PREPARE_ROUND"]


class Orchestrator:
    """One run: its connection, configuration and run store, what `prepare` loads (vectors,
    hyperparameters), the warm starts, and the annotator; `run()` executes the step table."""

    def __init__(self, con: duckdb.DuckDBPyConnection, config: RunConfig,
                 annotator_factory: Callable[[Orchestrator], Annotator] | None = None,
                 show_progress: bool = True, log: Callable[[str], None] = print, pool: Executor | None = None,
                 closing_build: bool = True, pool_memo: CandidatePoolMemo | None = None,
                 progress: RunProgress | None = None, engine: EngineSettings | None = None):
        self.con = con
        self.config = config
        # Where the candidate scan runs: in this process over DuckDB, or as a Spark job (spark/scoring.py).
        self.engine = engine or EngineSettings()
        # What the run is doing, published after every step for `karl status` (reporting/progress.py).
        self.progress = progress or RunProgress(None, RunSnapshot(config.run_id))
        self.store = run_store.RunStore(con, config.run_id)
        self.show_progress = show_progress
        self.log = log
        # False when the caller builds the marts once after several runs (karl experiment).
        self.closing_build = closing_build
        self.pool_memo = pool_memo or CandidatePoolMemo()
        self.id_cv = IdCrossValidation(config.members, config.seed, config.workers, pool)
        self.steps: dict[str, Step] = round_steps(config)
        self._annotator_factory = annotator_factory
        self._annotator: Annotator | None = None
        self._reference: dict[str, str] | None = None
        self.feature_set: str | None = None
        self.vectors: ItemVectors | None = None
        self.pair_features: PairFeatures | None = None  # the run's --features (features/sets.py)
        self.hyperparameters: dict | None = None
        # The round-0 ensemble fit, the warm start of later rounds (see loop/id_cv.py).
        self.round0_ensemble: MemberWeights | None = None
        self._marts_published_at = float("-inf")
        self.cold_start = False  # set by _run: no human training labels and --cold-start N (loop/cold_start.py)
        # --engine spark: the run's raw rows published to Spark after every step (spark/run_publishing.py).
        self.spark_run: SparkRunMirror | None = SparkRunMirror(self) if self.engine.engine == "spark" else None

    # --- what the steps share -------------------------------------------------------------
    def build(self, args: list[str]) -> float:
        return run_build(args, self.dbt_vars(), self.log, db_path=database_path(self.con))

    def dbt_vars(self) -> dict[str, object]:
        return run_dbt_vars(self.config, self.store)

    def base_labels(self) -> data.LabelledPairs:
        """The ID base set: the human labels, plus this run's cold-start labels when it cold-started."""
        human = data.id_human_labels(self.con, self.config.train_labels)
        if not self.cold_start:
            return human
        cold = cold_start.cold_start_labels(self.con, self.config.run_id)
        return data.LabelledPairs(*(np.concatenate([getattr(human, f), getattr(cold, f)])
                                    for f in ("pair_keys", "item_a_ids", "item_b_ids", "labels")))

    def training_arrays(self, round_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x_human, y_human, x_added, y_added) of a round's training set (x_human: the base set)."""
        human = self.base_labels()
        added = data.added_labels(self.con, self.config.run_id, round_index)
        x_human = self.pair_matrix(human.item_a_ids, human.item_b_ids)
        x_added = self.pair_matrix(added.item_a_ids, added.item_b_ids) if len(added) else empty_rows(x_human)
        return x_human, human.labels, x_added, added.labels

    def pair_matrix(self, item_a_ids: np.ndarray, item_b_ids: np.ndarray):  # noqa: ANN201
        """The run's pair rows (its --features; the dense part only for a non-linear family)."""
        return self.pair_features.pair_matrix(item_a_ids, item_b_ids, dense=self.config.model_family != "logreg")

    def round0_members(self) -> MemberWeights:
        """The round-0 ensemble's weights (refitted from zeros after a resume: reproducible)."""
        if self.round0_ensemble is None:
            x_human, y_human, _, _ = self.training_arrays(0)
            ensemble = BaggedEnsemble(n_members=self.config.members, hyperparameters=self.hyperparameters,
                                      seed=self.config.seed * 1000).fit(x_human, y_human)
            self.round0_ensemble = (ensemble.coef_, ensemble.intercept_)
        return self.round0_ensemble

    def reference_labels(self) -> dict[str, str]:
        if self._reference is None:
            self._reference = reference_labels_for(self.con, self.config)
        return self._reference

    def annotator(self) -> Annotator:
        if self._annotator is None:
            self._annotator = (self._annotator_factory(self) if self._annotator_factory is not None
                               else make_annotator(self.con, self.config, self.reference_labels()))
        return self._annotator

    # --- prepare: features, categories, candidate pool, hyperparameters ----------------------
    def prepare(self) -> None:
        progress = self.progress
        artifact = self.store.artifact("features")
        if artifact is None:
            started = time.perf_counter()
            with progress.phase("set-up", "features"):
                artifact = {"feature_set": ensure_item_vectors(self.con, seed=self.config.seed,
                                                               items_sql=catalog_items_sql(self.config.catalog))}
            self.store.store_artifact("features", artifact)
            self.store.mark_done(PREPARE_ROUND, "features", time.perf_counter() - started)
        self.feature_set = artifact["feature_set"]
        with progress.phase("set-up", "load item vectors"):
            self.vectors = load_item_vectors(self.con, self.feature_set)
        started = time.perf_counter()
        with progress.phase("set-up", "pair features"):
            self.pair_features = prepare_pair_features(self.con, self.config.features, seed=self.config.seed,
                                                       dense_feature_set=self.feature_set,
                                                       items_sql=catalog_items_sql(self.config.catalog))
        if self.store.artifact("pair_features") is None:
            self.store.store_artifact("pair_features", self.pair_features.artifact()
                                      | {"model_family": self.config.model_family})
            self.store.mark_done(PREPARE_ROUND, "pair_features", time.perf_counter() - started)

        if self.store.artifact("categories") is None:
            started = time.perf_counter()
            with progress.phase("set-up", "categories"):
                category_set = ensure_categories(self.con, self.feature_set, seed=self.config.seed,
                                                 source=self.config.candidate_source, catalog=self.config.catalog,
                                                 config=self.config.categories)
            self.store.store_artifact("categories", {"category_set": category_set})
            self.store.mark_done(PREPARE_ROUND, "categories", time.perf_counter() - started)
        with progress.phase("set-up", "candidate pool (dbt)"):
            self.pool_memo.ensure(self.con, self.dbt_vars(), self.build)
        self._check_eval_split()
        if self.cold_start:
            cold_start.run_cold_start(self)
        shortfall = cold_start.id_cv_shortfall(self.base_labels().labels)
        if shortfall:
            self.log(shortfall)

        self.hyperparameters = self.store.artifact("hyperparameters")
        if self.hyperparameters is None:
            started = time.perf_counter()
            with progress.phase("set-up", "tune hyperparameters"):
                self.hyperparameters = self._tuned_hyperparameters()
            self.store.store_artifact("hyperparameters", self.hyperparameters)
            self.store.mark_done(PREPARE_ROUND, "tune", time.perf_counter() - started)

    def _check_eval_split(self) -> None:
        """Record the pool/test split the run is evaluated on; a resumed run refuses another one
        (its OOD figures would mix two test sets)."""
        split = self.store.eval_split()
        recorded = self.store.artifact("eval_split")
        if recorded is None:
            self.store.store_artifact("eval_split", split)
        elif recorded.get("split_seed") != split["split_seed"]:
            raise SplitChangedError(
                f"Run {self.config.run_id} was evaluated on the split with seed {recorded.get('split_seed')}; "
                f"this warehouse now holds seed {split['split_seed']}. Resume it with "
                f"KARL_SPLIT_SEED={recorded.get('split_seed')} in the environment.")

    def _tuned_hyperparameters(self) -> dict:
        """Runs with the same features, human labels, trials and seed share one tuning."""
        human = self.base_labels()
        tuning_key = hashlib.sha256(json.dumps(
            [self.feature_set, self.config.features, self.config.model_family, self.config.tuning_trials,
             self.config.seed,
             sorted(zip(human.pair_keys.tolist(), human.labels.tolist()))]).encode()).hexdigest()[:16]
        shared = self.store.shared_hyperparameters(tuning_key)
        if shared is not None:
            return shared
        if self.config.model_family == "hgb" or cold_start.id_cv_shortfall(human.labels):
            # hgb members run with sklearn's defaults at 100 iterations, 15 leaves (not tuned here);
            # too few labels of a class for the tuning's folds (a cold start): the defaults.
            return {"params": LogRegParams(family=self.config.model_family).to_dict(), "cv_macro_f1": None,
                    "n_trials": 0, "seed": self.config.seed, "tuning_key": tuning_key}
        c_low, c_high = self.pair_features.c_range
        return tune_hyperparameters(
            self.pair_matrix(human.item_a_ids, human.item_b_ids), human.labels,
            TuningConfig(n_trials=self.config.tuning_trials, seed=self.config.seed, C_low=c_low, C_high=c_high),
        ) | {"tuning_key": tuning_key}

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        """Run (or resume) the run; its published state ends as completed, stopped (a clean stop,
        RunStopped) or aborted (any other exception, Ctrl-C included)."""
        try:
            self._run()
        except RunStopped as stop:
            activity.note_step(self.progress.snapshot.current)  # for the CLI's one line
            self._publish_to_spark()  # a clean stop: Spark gets every call recorded before it
            self._finish(STOPPED, str(stop))
            raise
        except BaseException as error:  # noqa: BLE001 - recorded, then re-raised
            activity.note_step(self.progress.snapshot.current)
            self._finish(ABORTED, f"{type(error).__name__}: {error}".strip().rstrip(":"))
            raise
        else:
            self.progress.finish(COMPLETED)
        finally:
            self.id_cv.close()

    def _finish(self, state: str, message: str) -> None:
        """Publish the end state; a failure to (a full disk) must not hide the error that ended the
        run: the run's file then reads aborted by its dead pid."""
        try:
            self.progress.finish(state, message)
        except OSError:
            pass

    def _require_human_labels(self) -> None:
        """The marts exist (check_roles has refused a train dataset the warehouse does not hold)."""
        if not run_store.marts_exist(self.con):
            self.build(FULL_BUILD_ARGS)
        self.cold_start = cold_start.is_cold_start(self.con, self.config.cold_start,
                                                   getattr(self.config, "train_labels", None))
        if self.config.cold_start and not self.cold_start:
            self.log(f"--cold-start {self.config.cold_start} is not needed: this warehouse has human training labels.")
        if not self.cold_start and not self.config.train_labels:
            raise RunStopped("This run has no train datasets (--train-labels none, or the default FBL2023 is not "
                             "in this warehouse): start cold with --cold-start N (N pairs asked before round 0 "
                             "trains), or load labels (`karl ingest labels FILE --dataset NAME`) and name them "
                             "with --train-labels.")
        if not self.cold_start and n_judgements(self.con, self.config.train_labels) == 0:
            raise RunStopped(
                "This warehouse has no human training labels yet: load them first "
                "(`karl ingest fbl`, then `karl build`), or start cold: `karl run --cold-start 200 --annotator openai`.")

    def _run(self) -> None:
        check_annotator(self.con, self.config)  # before anything is built, registered or spent
        self.config = without_absent_defaults(self.con, self.config)
        check_roles(self.con, self.config)  # the datasets exist; no train pair is an eval pair
        self.log(describe(self.config))
        with self.progress.phase("set-up", "check the marts"):
            self._require_human_labels()
        self.store.register(self.config)
        activity.note_run(self.config.run_id)  # from here on a failure can be resumed
        if (self.config.rounds, "evaluate") in self.store.completed_steps():
            # Complete already (e.g. a cell of a resumed experiment): nothing to prepare or run.
            self._publish_to_spark()
            if self.closing_build:
                with self.progress.phase("closing", "build the marts (dbt)"):
                    self.build(RUN_BUILD_ARGS)
                self._close_on_spark()
            return
        self.prepare()
        self._publish_to_spark()
        done = self.store.completed_steps()
        progress = tqdm(range(self.config.rounds + 1), desc=f"{self.config.run_id} {self.config.strategy}",
                        unit="round", disable=not self.show_progress)
        for round_index in progress:
            if self._round_complete(round_index, done):
                continue
            state = self._run_round(round_index, done, progress)
            if self.config.until_stable and round_index < self.config.rounds and self._stable(round_index):
                self.log(f"Stopping after round {round_index}: the stopping signal says more rounds will not pay.")
                if state.ensemble is not None:  # this round's model is the run's final one (`karl predict`)
                    record_final_model(self, self.config.run_id, round_index, state.ensemble,
                                       self.config.model_family)
                break
        progress.close()
        self._publish_to_spark()
        if self.closing_build:
            with self.progress.phase("closing", "build the marts (dbt)"):
                self.build(RUN_BUILD_ARGS)
                publish_marts(self.con, self.progress.db_path)
            self._close_on_spark()

    def _round_complete(self, round_index: int, done: set[tuple[int, str]]) -> bool:
        """Every step the round has under this configuration is done. A run given more rounds
        (`karl run --resume` of a longer config, the Dagster nightly round) reopens its former
        last round, which only trained and evaluated: it now selects, annotates and builds. Its
        evaluation stays the one recorded before (the model of a round does not depend on the
        round's own labels), so that round's annotation figures in raw.round_metrics read 0."""
        last_round = round_index == self.config.rounds
        return all((round_index, name) in done or (last_round and name in LAST_ROUND_SKIPS) for name in self.steps)

    def _publish_to_spark(self) -> None:
        """--engine spark: the rows the run added since the last publish, into Spark's raw tables."""
        if self.spark_run is not None:
            self.spark_run.publish()

    def _close_on_spark(self) -> None:
        """--engine spark: the run's marts built on Spark too (spark/run_publishing.py)."""
        if self.spark_run is not None:
            with self.progress.phase("closing", "build the run's marts on Spark (dbt)"):
                self.spark_run.build_marts(self.dbt_vars())

    def _run_round(self, round_index: int, done: set[tuple[int, str]], progress: tqdm) -> RoundState:
        state = RoundState()
        last_round = round_index == self.config.rounds
        for name, step in self.steps.items():
            if (round_index, name) in done or (last_round and name in LAST_ROUND_SKIPS):
                continue
            progress.set_postfix_str(name)
            started = time.perf_counter()
            # with a progress bar on screen the bar shows the step; otherwise (quiet, JSON) a line each
            self.progress.begin(f"round {round_index}", name, say=not self.show_progress)
            step(self, round_index, state)
            self.store.mark_done(round_index, name, time.perf_counter() - started)
            self._publish_to_spark()
            self.progress.end(f"round {round_index}", name, time.perf_counter() - started, say=not self.show_progress)
            if name == "build":
                self._publish_marts()
        if state.metrics:
            self.progress.evaluated(round_index, state.metrics,
                                    n_accepted_labels=state.metrics.get("n_added_labels"),
                                    spend_usd=self.progress.snapshot.spend_usd + float(state.metrics.get("cost_usd") or 0))
            progress.set_postfix(id_f1=f"{state.metrics.get('id_macro_f1', float('nan')):.3f}",
                                 ood_f1=f"{state.metrics.get('ood_macro_f1', float('nan')):.3f}")
        return state

    def _publish_marts(self) -> None:
        """Refresh the marts copy readers query during the run (`karl report`, `karl status`) after
        a round's build, at most every MARTS_PUBLISH_SECONDS: a copy costs ~0.25 s, a round ~5 s."""
        if time.monotonic() - self._marts_published_at >= MARTS_PUBLISH_SECONDS:
            publish_marts(self.con, self.progress.db_path)
            self._marts_published_at = time.monotonic()

    def _stable(self, round_index: int) -> bool:
        if self.config.stop_rule != "signal":
            # a rule of loop/stopping/rules.py on the raw signals: no build needed
            stop, reason = should_stop_by_rule(self.con, self.config.run_id, self.config.stop_rule, round_index)
        else:
            self.build(RUN_BUILD_ARGS)
            stop, reason = should_stop(self.con, self.config.run_id)
        if stop:
            self.log(reason)
        return stop
