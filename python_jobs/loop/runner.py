"""The KARL loop over the warehouse: train -> select -> annotate -> build -> evaluate, T rounds.

The orchestrator holds the one DuckDB connection and runs dbt in-process after each annotation
step, so consensus and training marts (and their invariant tests) are rebuilt before the next
round trains. Every completed step is recorded in raw.run_steps; `resume` skips completed steps,
and annotators send only the calls still missing, so a crash (even kill -9) costs no call twice.

Round t trains on the human labels plus this run's labels accepted in rounds < t, evaluates
that model (ID and OOD), and - except in the last round - selects and annotates new pairs.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import duckdb
import numpy as np
from tqdm.auto import tqdm

from python_jobs import warehouse

from python_jobs.loop import data as loop_data
from python_jobs.annotation.base import Annotator, BudgetExhausted, CallContext, PairToAnnotate
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.config import RunConfig

PREPARE_ROUND = -1
ROUND_STEPS = ("train", "select", "annotate", "build", "evaluate")
# Rebuilt after each annotation step: only what the new calls change on the way to the next
# round's training set, a snapshot of the training labels (the label set as of each round), and
# the invariant tests the next round depends on (tag karl_round_invariant: unanimity, K calls,
# no test pair in training, balanced members, one label per pair and round, canonical pair keys).
# Indirect selection is off, so the other tests on these models (not_null, accepted_values,
# relationships; contracts already enforce types and not-null) run once, in the run's closing
# build (RUN_BUILD_ARGS); a round build then runs ~15 nodes instead of ~40. Unit tests check SQL
# logic, not data: `make test` runs them.
ROUND_BUILD_ARGS = [
    "build",
    "--select", "source:karl.llm_calls+,+fct_training_labels", "stg_karl__bag_members",
    # dim_pairs gains this round's selections (sampler pairs are in no FBL file).
    "dim_pairs",
    # The label set as of each round (snapshots.snap_training_labels; docs/labels_as_of_round.sql).
    "snap_training_labels",
    "tag:karl_round_invariant",
    "--indirect-selection", "empty",
    "--exclude", "resource_type:unit_test",
]
CANDIDATE_BUILD_ARGS = [
    "build",
    "--select", "stg_karl__item_categories", "path:models/intermediate/loop", "fct_candidate_pairs",
    "--exclude", "resource_type:unit_test",
]
# At the end of a run (and before reading the stopping signal): every mart downstream of the
# job-written tables, except the round-independent candidate pool.
RUN_BUILD_ARGS = [
    "build",
    "--select", "source:karl+",
    "--exclude", "fct_candidate_pairs", "resource_type:seed", "resource_type:unit_test",
]


BAG_MEMBER_COLUMNS = ["run_id", "round_index", "member_index", "relation_class", "n_samples", "created_at"]
SELECTION_COLUMNS = ["run_id", "round_index", "pair_key", "item_a_id", "item_b_id", "fine_category", "strategy",
                     "uncertainty_score", "reference_relation_label", "selected_at"]

# Candidate pools this process built: warehouse file -> (dbt vars, inputs, pool fingerprint).
_BUILT_CANDIDATE_POOLS: dict[str, tuple] = {}

# Pool predictions kept per round for the stopping signal: a fixed hash sample of the pool.
POOL_PREDICTION_SAMPLE = 20_000


class RunStopped(RuntimeError):
    """The run stopped before its last round, with a reason for the user."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class RoundState:
    """What one round has computed in this process (recomputed deterministically on resume)."""

    ensemble: object | None = None
    id_cv: object | None = None     # (folds, futures, n_llm, started): the round's ID CV (in workers when > 1)


class Orchestrator:
    def __init__(self, con: duckdb.DuckDBPyConnection, config: RunConfig,
                 annotator_factory: Callable[["Orchestrator"], Annotator] | None = None,
                 show_progress: bool = True, log: Callable[[str], None] = print, pool: Executor | None = None,
                 closing_build: bool = True):
        self.con = con
        # False when the caller builds the marts once after several runs (karl experiment).
        self.closing_build = closing_build
        self._pool = pool
        self._owns_pool = pool is None
        self.config = config
        self._annotator_factory = annotator_factory
        self._annotator: Annotator | None = None
        self.show_progress = show_progress
        self.log = log
        self.vectors: loop_data.ItemVectors | None = None
        self.hyperparameters: dict | None = None
        self.feature_set: str | None = None
        # Round-0 fits, the warm starts of later rounds: ensemble (coef_, intercept_); per ID-CV fold.
        self._round0_ensemble: tuple[np.ndarray, np.ndarray] | None = None
        self._round0_folds: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._scoring_item_vectors = None  # scoring.ItemVectors of self.vectors, made at the first select
        self._reference_cache: dict[str, str] | None = None

    # --- bookkeeping ------------------------------------------------------------------------
    def register_run(self) -> None:
        c = self.config
        self.con.execute(
            "insert into raw.runs values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (run_id) do nothing",
            [c.run_id, c.strategy, c.annotator, c.seed, c.rounds, c.budget, c.to_json(), _now()],
        )

    def completed_steps(self) -> set[tuple[int, str]]:
        rows = self.con.execute(
            "select round_index, step from raw.run_steps where run_id = ?", [self.config.run_id]
        ).fetchall()
        return {(int(r), str(s)) for r, s in rows}

    def _mark_done(self, round_index: int, step: str, seconds: float) -> None:
        self.con.execute(
            "insert into raw.run_steps values (?, ?, ?, ?, ?) on conflict do nothing",
            [self.config.run_id, round_index, step, seconds, _now()],
        )

    def _artifact(self, name: str) -> dict | None:
        row = self.con.execute(
            "select value_json from raw.run_artifacts where run_id = ? and name = ?", [self.config.run_id, name]
        ).fetchone()
        return json.loads(row[0]) if row else None

    def _store_artifact(self, name: str, value: dict) -> None:
        self.con.execute(
            "insert into raw.run_artifacts values (?, ?, ?, ?) on conflict do nothing",
            [self.config.run_id, name, json.dumps(value, sort_keys=True), _now()],
        )

    def build(self, args: list[str] | None = None) -> float:
        result = warehouse.run_dbt(args or ROUND_BUILD_ARGS, dbt_vars=self.dbt_vars(), repeated=args is None)
        for warning in result.warnings:
            if "max_class_share" in warning:
                self.log("note: one class is more than karl_max_class_share of the LLM labels accepted in a "
                         "round (dbt warning; see marts.rpt_class_balance)")
            else:
                self.log(f"dbt warning: {warning}")
        return result.seconds

    def _marts_exist(self) -> bool:
        row = self.con.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts' "
            "and table_name in ('fct_training_labels', 'fct_eval_sets', 'fct_human_labels', 'dim_items')"
        ).fetchone()
        return row[0] == 4

    def dbt_vars(self) -> dict[str, object]:
        variables: dict[str, object] = {"karl_k_calls": self.config.k_calls,
                                        "karl_candidate_source": self.config.candidate_source,
                                        "karl_sampler_seed": self.config.seed}
        category_set = (self._artifact("categories") or {}).get("category_set")
        if category_set:
            variables["karl_category_set"] = category_set
        return variables

    # --- prepare: features, categories, candidate pool, hyperparameters ----------------------
    def prepare(self) -> None:
        from python_jobs.features.text import text as features
        from python_jobs.learning.ensemble import tune_hyperparameters

        artifact = self._artifact("features")
        if artifact is None:
            started = time.perf_counter()
            feature_set = features.ensure_item_vectors(self.con, seed=self.config.seed)
            self._store_artifact("features", {"feature_set": feature_set})
            self._mark_done(PREPARE_ROUND, "features", time.perf_counter() - started)
            artifact = {"feature_set": feature_set}
        self.feature_set = artifact["feature_set"]
        self.vectors = loop_data.load_item_vectors(self.con, self.feature_set)

        if self._artifact("categories") is None:
            from python_jobs.candidates.categories import ensure_categories

            started = time.perf_counter()
            category_set = ensure_categories(self.con, self.feature_set, seed=self.config.seed,
                                             source=self.config.candidate_source)
            self._store_artifact("categories", {"category_set": category_set})
            self._mark_done(PREPARE_ROUND, "categories", time.perf_counter() - started)
        # The candidate pool is one table shared by all runs; rebuild it for this run's source,
        # category set and seed at every start or resume (seconds, even for 300k pairs), unless
        # this process built it for the same vars and inputs and it is still what was built
        # (karl experiment: the cells of one seed share a pool).
        pool_key = self._candidate_pool_key()
        if _BUILT_CANDIDATE_POOLS.get(pool_key[0]) != pool_key[1:] + (self._candidate_pool_fingerprint(),):
            self.build(CANDIDATE_BUILD_ARGS)
            _BUILT_CANDIDATE_POOLS[pool_key[0]] = pool_key[1:] + (self._candidate_pool_fingerprint(),)

        self.hyperparameters = self._artifact("hyperparameters")
        if self.hyperparameters is None:
            started = time.perf_counter()
            human = loop_data.id_human_labels(self.con)
            tuning_key = hashlib.sha256(json.dumps(
                [self.feature_set, self.config.tuning_trials, self.config.seed,
                 sorted(zip(human.pair_keys.tolist(), human.labels.tolist()))]).encode()).hexdigest()[:16]
            # Runs with the same features, human labels, trials and seed share one tuning.
            cached = self.con.execute(
                "select value_json from raw.run_artifacts where name = 'hyperparameters' "
                "and json_extract_string(value_json, '$.tuning_key') = ? limit 1", [tuning_key]).fetchone()
            if cached:
                self.hyperparameters = json.loads(cached[0])
            else:
                self.hyperparameters = tune_hyperparameters(
                    self.vectors.pair_matrix(human.item_a_ids, human.item_b_ids), human.labels,
                    n_trials=self.config.tuning_trials, seed=self.config.seed,
                ) | {"tuning_key": tuning_key}
            self._store_artifact("hyperparameters", self.hyperparameters)
            self._mark_done(PREPARE_ROUND, "tune", time.perf_counter() - started)

    def _candidate_pool_key(self) -> tuple[str, str, tuple]:
        """(warehouse file, dbt vars, fingerprint of what the pool excludes and samples from)."""
        inputs = self.con.execute("""
            select
                (select count(*) || ':' || coalesce(bit_xor(hash(pair_key, relation_label)), 0)
                    from marts.fct_human_labels),
                (select count(*) || ':' || coalesce(bit_xor(hash(label_source, pair_key, relation_label)), 0)
                    from marts.fct_training_labels where label_source <> 'llm'),
                (select count(*) || ':' || coalesce(bit_xor(hash(pair_key, eval_set)), 0) from marts.fct_eval_sets),
                (select count(*) from raw.item_categories)
        """).fetchall()[0]
        return (str(warehouse.default_db_path().resolve()), json.dumps(self.dbt_vars(), sort_keys=True), inputs)

    def _candidate_pool_fingerprint(self) -> str | None:
        exists = self.con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'fct_candidate_pairs'").fetchall()[0][0]
        if not exists:
            return None
        return str(self.con.execute(
            "select count(*) || ':' || coalesce(bit_xor(hash(pair_key, fine_category, category_set)), 0) "
            "from marts.fct_candidate_pairs").fetchall()[0][0])

    # --- one round's steps ------------------------------------------------------------------
    def _training_arrays(self, round_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        assert self.vectors is not None
        human = loop_data.id_human_labels(self.con)
        added = loop_data.added_labels(self.con, self.config.run_id, round_index)
        x_human = self.vectors.pair_matrix(human.item_a_ids, human.item_b_ids)
        x_added = (self.vectors.pair_matrix(added.item_a_ids, added.item_b_ids) if len(added)
                   else np.zeros((0, x_human.shape[1]), dtype=x_human.dtype))
        return x_human, human.labels, x_added, added.labels

    def train(self, round_index: int, state: RoundState) -> None:
        from python_jobs.learning.ensemble import BaggedEnsemble

        x_human, y_human, x_added, y_added = self._training_arrays(round_index)
        ensemble = BaggedEnsemble(n_members=self.config.members, hyperparameters=self.hyperparameters,
                                  seed=self.config.seed * 1000 + round_index)
        warm_start = None if round_index == 0 else self._round0_members()
        ensemble.fit(np.vstack([x_human, x_added]), np.concatenate([y_human, y_added]), warm_start=warm_start)
        if round_index == 0:
            self._round0_ensemble = (ensemble.coef_, ensemble.intercept_)
        state.ensemble = ensemble
        self._start_id_cv(round_index, x_human, y_human, x_added, y_added, state)
        now = _now()
        rows = [
            (self.config.run_id, round_index, member, label, int(count), now)
            for member, counts in enumerate(ensemble.member_class_counts)
            for label, count in counts.items()
        ]
        warehouse.insert_rows(self.con, "raw.bag_members", BAG_MEMBER_COLUMNS, rows)

    # Warm starts. Every fit after round 0 starts from the matching round-0 fit (member m of the
    # ensemble, member m of fold f in the ID CV) instead of zeros: ~2.5x fewer lbfgs iterations.
    # Round 0 is fitted from zeros and depends only on the run's seed and the human labels, so a
    # resumed run refits it when it is not in memory and reproduces an uninterrupted run exactly.
    # A fold's start never saw the fold's test pairs (round-0 fold models train on the same folds).
    def _round0_members(self) -> tuple[np.ndarray, np.ndarray]:
        from python_jobs.learning.ensemble import BaggedEnsemble

        if self._round0_ensemble is None:
            x_human, y_human, _, _ = self._training_arrays(0)
            ensemble = BaggedEnsemble(n_members=self.config.members, hyperparameters=self.hyperparameters,
                                      seed=self.config.seed * 1000).fit(x_human, y_human)
            self._round0_ensemble = (ensemble.coef_, ensemble.intercept_)
        return self._round0_ensemble

    def _round0_fold_members(self, x_human: np.ndarray, y_human: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        from python_jobs.learning import evaluation
        if self._round0_folds is None:
            _, futures = self._submit_id_cv(x_human, y_human, None, None, starts=None)
            self._round0_folds = [future.result()[1] for future in futures]
        return self._round0_folds

    def _start_id_cv(self, round_index: int, x_human: np.ndarray, y_human: np.ndarray, x_added: np.ndarray,
                     y_added: np.ndarray, state: RoundState) -> None:
        """Start the round's ID cross-validation, in worker processes when workers > 1: it depends
        only on the round's training set, so it runs while the main process selects, annotates
        and builds."""
        starts = None if round_index == 0 else self._round0_fold_members(x_human, y_human)
        started = time.perf_counter()
        folds, futures = self._submit_id_cv(x_human, y_human, x_added, y_added, starts)
        state.id_cv = (folds, futures, len(y_added), started)

    def _submit_id_cv(self, x_human: np.ndarray, y_human: np.ndarray, x_added: np.ndarray | None,
                      y_added: np.ndarray | None, starts: list[tuple[np.ndarray, np.ndarray]] | None,
                      ) -> tuple[list, list[Future]]:
        """(folds, one future per fold of (test predictions, fold members)); ``starts``: the
        fold members to warm-start from, None for a fit from zeros."""
        from python_jobs.learning import evaluation
        # Fixed folds across rounds: round-to-round ID differences are then the labels', not the split's.
        x_all, y_all, _, folds = evaluation.id_cv_inputs(x_human, y_human, x_added, y_added, seed=self.config.seed)
        params = self.hyperparameters.get("params", self.hyperparameters)
        futures = [
            self._submit(evaluation.fit_predict_fold, params, self.config.members, self.config.seed, fold,
                         x_all[train], y_all[train], x_all[test], None if starts is None else starts[fold])
            for fold, (train, test) in enumerate(folds)
        ]
        return folds, futures

    def _submit(self, function: Callable, *args: object) -> Future:
        """function(*args) in the worker pool, or here and now when workers == 1."""
        if self.config.workers > 1:
            return self._worker_pool().submit(function, *args)
        future: Future = Future()
        try:
            future.set_result(function(*args))
        except Exception as error:  # noqa: BLE001 - re-raised by future.result()
            future.set_exception(error)
        return future

    def _worker_pool(self) -> Executor:
        if self._pool is None:
            self._pool = worker_pool(self.config.workers)
        return self._pool

    def close(self) -> None:
        if self._pool is not None and self._owns_pool:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def select(self, round_index: int, state: RoundState) -> int:
        """Stream the candidate pool through the ensemble, keep the most uncertain pair per fine
        category, cap by the budget; record the picks and the pool's predicted classes."""
        from python_jobs.learning import scoring
        seed = self.config.seed * 1000 + round_index
        # acquisition.uncertainty's scores, computed on the scorer's layout without copies
        uncertainty = scoring.strategy_uncertainty(self.config.strategy, seed, self.config.qbc_measure)
        sql, params = scoring.candidate_pairs_sql(self.config.run_id)
        weights, bias = state.ensemble.stacked_weights()
        kept, _ = scoring.score_candidates(
            self.con, sql, weights, bias, self.config.members, self._scoring_vectors(), uncertainty,
            per_category=1, params=params)
        chosen = kept[: self.config.budget]
        reference = self._reference_labels()
        now = _now()
        rows = [
            (self.config.run_id, round_index, pick["pair_key"], pick["item_a_id"], pick["item_b_id"],
             pick["fine_category"], self.config.strategy, float(pick["uncertainty_score"]),
             reference.get(pick["pair_key"]), now)
            for pick in chosen
        ]
        warehouse.insert_rows(self.con, "raw.selections", SELECTION_COLUMNS, rows)
        self._record_pool_predictions(round_index, state, now)
        return len(rows)

    def _scoring_vectors(self):  # noqa: ANN202 - scoring.ItemVectors
        from python_jobs.learning import scoring
        # The vectors prepare() loaded, by position; no second read of raw.item_vectors. One
        # object per run, so what it derives once (norms, the id -> position table) is reused.
        if self._scoring_item_vectors is None:
            self._scoring_item_vectors = scoring.ItemVectors(ids=self.vectors.ids, matrix=self.vectors.matrix)
        return self._scoring_item_vectors

    def _reference_labels(self) -> dict[str, str]:
        if self._reference_cache is None:
            self._reference_cache = reference_labels_for(self.con, self.config)
        return self._reference_cache

    def _record_pool_predictions(self, round_index: int, state: RoundState, now: datetime) -> None:
        """The ensemble's class for a fixed hash sample of the pool (all of it when small): the
        stopping signal compares these between rounds."""
        from python_jobs.learning.scoring import score_candidate_frame

        sample = self.con.execute(f"""
            select pair_key, item_a_id, item_b_id from marts.fct_candidate_pairs
            order by hash(pair_key || ':{self.config.seed}') limit {POOL_PREDICTION_SAMPLE}
        """).df()
        if sample.empty:
            return
        mean_probs = score_candidate_frame(state.ensemble, self.vectors, sample).mean(axis=0)
        frame = sample[["pair_key"]].assign(
            predicted_class=np.asarray(state.ensemble.classes_)[mean_probs.argmax(axis=1)])
        cursor = self.con.cursor()
        try:
            cursor.register("_karl_pool_predictions", frame)
            cursor.execute(
                "insert into raw.pool_predictions select ?, ?, pair_key, predicted_class, ? "
                "from _karl_pool_predictions on conflict do nothing", [self.config.run_id, round_index, now])
        finally:
            cursor.close()

    def pairs_to_annotate(self, round_index: int) -> list[PairToAnnotate]:
        rows = self.con.execute("""
            select s.pair_key, s.item_a_id, a.title, s.item_b_id, b.title,
                concat_ws(' > ', a.category_l1, a.category_l2, a.category_l3),
                concat_ws(' > ', b.category_l1, b.category_l2, b.category_l3)
            from raw.selections as s
            inner join marts.dim_items as a on a.item_id = s.item_a_id
            inner join marts.dim_items as b on b.item_id = s.item_b_id
            where s.run_id = ? and s.round_index = ?
            order by s.uncertainty_score desc, s.pair_key
        """, [self.config.run_id, round_index]).fetchall()
        return [PairToAnnotate(r[0], r[1], r[2], r[3], r[4], r[5] or None, r[6] or None) for r in rows]

    def annotate(self, round_index: int) -> None:
        if self._annotator is None:
            if self._annotator_factory is not None:
                self._annotator = self._annotator_factory(self)
            else:
                from python_jobs.annotation.factory import make_annotator

                self._annotator = make_annotator(self.con, self.config, self._reference_labels())
        pairs = self.pairs_to_annotate(round_index)
        context = CallContext(self.config.run_id, round_index, self.config.k_calls)
        try:
            self._annotator.annotate(pairs, context, DuckDBCallSink(self.con))
        except BudgetExhausted as error:
            raise RunStopped(
                f"Round {round_index} stopped at the cost budget: {error}. Every call made so far is recorded; "
                f"`karl run --resume {self.config.run_id} --max-cost <more>` sends only the missing calls.") from error

    def evaluate(self, round_index: int, state: RoundState) -> dict:
        from python_jobs.learning import evaluation
        x_human, y_human, x_added, y_added = self._training_arrays(round_index)
        ood = loop_data.ood_test_labels(self.con)
        x_ood = self.vectors.pair_matrix(ood.item_a_ids, ood.item_b_ids)
        metrics: dict[str, object] = {}
        folds, futures, n_llm, started = state.id_cv
        results = [future.result() for future in futures]
        if round_index == 0:
            self._round0_folds = [members for _, members in results]
        metrics.update(evaluation.id_cv_metrics(
            y_human, folds, [predictions for predictions, _ in results], n_llm, time.perf_counter() - started))
        metrics.update(evaluation.evaluate_ood(state.ensemble, x_ood, ood.labels))
        metrics["diversity"] = evaluation.diversity(np.vstack([x_human, x_added]), seed=self.config.seed)
        metrics["n_training_labels"] = int(len(y_human) + len(y_added))
        metrics["n_added_labels"] = int(len(y_added))
        metrics.update(self._annotation_stats(round_index))
        self.con.execute(
            "insert into raw.round_metrics values (?, ?, ?, ?) on conflict do nothing",
            [self.config.run_id, round_index, json.dumps(metrics, sort_keys=True), _now()],
        )
        return metrics

    def _annotation_stats(self, round_index: int) -> dict[str, object]:
        selected = self.con.execute(
            "select count(*) from raw.selections where run_id = ? and round_index = ?",
            [self.config.run_id, round_index]).fetchone()[0]
        calls, cost = self.con.execute(
            "select count(*), coalesce(sum(cost_usd), 0) from raw.llm_calls where run_id = ? and round_index = ?",
            [self.config.run_id, round_index]).fetchone()
        accepted = dict(self.con.execute("""
            select relation_label, count(*) from marts.fct_consensus_labels
            where run_id = ? and round_index = ? and is_accepted
            group by relation_label
        """, [self.config.run_id, round_index]).fetchall())
        n_accepted = int(sum(accepted.values()))
        stats: dict[str, object] = {
            "n_annotated_pairs": int(selected),
            "n_calls": int(calls),
            "cost_usd": float(cost),
            "n_accepted_pairs": n_accepted,
            "yield": (n_accepted / selected) if selected else None,
        }
        for label in ("substitute", "complement", "other"):
            stats[f"accepted_{label}"] = int(accepted.get(label, 0))
        return stats

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        finally:
            self.close()

    def _require_human_labels(self) -> None:
        if not self._marts_exist():
            self.build(["build", "--exclude", "resource_type:unit_test"])
        n_labels = self.con.execute(
            "select count(*) from marts.fct_training_labels where label_source <> 'llm'").fetchone()[0]
        if n_labels == 0:
            raise RunStopped(
                "This warehouse has no human training labels yet: load them first "
                "(`karl ingest fbl`, then `karl build`), or point KARL_DUCKDB_PATH at a warehouse that has them.")

    def _run(self) -> None:
        self._require_human_labels()
        self.register_run()
        done = self.completed_steps()
        if (self.config.rounds, "evaluate") in done:
            # Complete already (e.g. a cell of a resumed experiment): nothing to prepare or run.
            if self.closing_build:
                self.build(RUN_BUILD_ARGS)
            return
        self.prepare()
        done = self.completed_steps()
        rounds = range(self.config.rounds + 1)
        progress = tqdm(rounds, desc=f"{self.config.run_id} {self.config.strategy}", unit="round",
                        disable=not self.show_progress)
        for round_index in progress:
            if (round_index, "evaluate") in done:
                continue
            state = RoundState()
            last_round = round_index == self.config.rounds
            for step in ROUND_STEPS:
                if (round_index, step) in done:
                    continue
                if last_round and step in ("select", "annotate", "build"):
                    continue
                progress.set_postfix_str(step)
                started = time.perf_counter()
                if step in ("select", "evaluate") and state.ensemble is None:
                    self.train(round_index, state)
                if step == "train":
                    if state.ensemble is None:
                        self.train(round_index, state)
                elif step == "select":
                    self.select(round_index, state)
                elif step == "annotate":
                    self.annotate(round_index)
                elif step == "evaluate":
                    metrics = self.evaluate(round_index, state)
                    progress.set_postfix(id_f1=f"{metrics.get('id_macro_f1', float('nan')):.3f}",
                                         ood_f1=f"{metrics.get('ood_macro_f1', float('nan')):.3f}")
                elif step == "build":
                    try:
                        self.build()
                    except warehouse.DbtFailedError as error:
                        raise RunStopped(
                            f"An invariant failed after round {round_index}'s annotations; the run stops here "
                            f"(fix the cause, then `karl run --resume {self.config.run_id}`):\n  "
                            + "\n  ".join(error.failures)) from error
                self._mark_done(round_index, step, time.perf_counter() - started)
            if self.config.until_stable and not last_round and self._stable():
                self.log(f"Stopping after round {round_index}: the stopping signal says more rounds will not pay.")
                break
        if self.closing_build:
            self.build(RUN_BUILD_ARGS)

    def _stable(self) -> bool:
        from python_jobs.loop.stopping import should_stop

        self.build(RUN_BUILD_ARGS)
        stop, reason = should_stop(self.con, self.config.run_id)
        if stop:
            self.log(reason)
        return stop


def worker_pool(workers: int) -> Executor:
    """Processes for the ID cross-validation; spawned, not forked: the parent holds DuckDB and dbt threads."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))


def _exit_with_parent(parent_pid: int) -> None:
    """In a worker: exit as soon as the orchestrator is gone. A killed (kill -9) orchestrator
    would otherwise leave its workers waiting for work forever, holding its output pipes."""
    import os
    import threading

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="karl-exit-with-parent", daemon=True).start()


def reference_labels_for(con: duckdb.DuckDBPyConnection, config: RunConfig) -> dict[str, str]:
    """Known labels of candidate pairs: human majority labels (the FBL pool), or on a catalogue
    with baskets the behaviour-based labels (co-purchase lift) of the sampled candidates."""
    labels = loop_data.reference_labels(con)
    if config.candidate_source == "sampler":
        from python_jobs.candidates import basket_labels
        catalog = con.execute("select catalog from raw.basket_lines limit 1").fetchone()
        if catalog:
            labels |= basket_labels.reference_labels(
                con, "select pair_key, item_a_id, item_b_id from marts.fct_candidate_pairs", catalog[0])
    return labels


def load_run_config(con: duckdb.DuckDBPyConnection, run_id: str) -> RunConfig:
    row = con.execute("select config_json from raw.runs where run_id = ?", [run_id]).fetchone()
    if row is None:
        raise RunStopped(f"No run {run_id!r} in this warehouse (see `karl status`).")
    override = con.execute(
        "select value_json from raw.run_artifacts where run_id = ? and name like 'config@%' "
        "order by created_at desc limit 1", [run_id]).fetchone()
    return RunConfig.from_json(override[0] if override else row[0])


def save_run_config(con: duckdb.DuckDBPyConnection, config: RunConfig) -> None:
    """Record a changed setting of an existing run (e.g. a larger --max-cost on resume). raw is
    append-only: the new configuration is a run artifact, and the latest one wins."""
    now = _now()
    con.execute("insert into raw.run_artifacts values (?, ?, ?, ?)",
                [config.run_id, f"config@{now.isoformat()}", config.to_json(), now])
