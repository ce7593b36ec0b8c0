"""Run bookkeeping: every SQL statement the loop runs against raw.runs, run_steps,
run_artifacts, bag_members, selections, pool_predictions and round_metrics. Append-only:
re-running a step inserts nothing twice (on conflict do nothing)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import duckdb
import pandas as pd

from python_jobs import warehouse
from python_jobs.config import RunConfig
from python_jobs.errors import KarlError
from python_jobs.labels import RELATION_CLASSES

BAG_MEMBER_COLUMNS = ["run_id", "round_index", "member_index", "relation_class", "n_samples", "created_at"]
SELECTION_COLUMNS = ["run_id", "round_index", "pair_key", "item_a_id", "item_b_id", "fine_category", "strategy",
                     "uncertainty_score", "reference_relation_label", "selected_at"]


class UnknownRunError(KarlError):
    """No run with that id in this warehouse."""


def now() -> datetime:
    """Timestamps in raw tables: UTC, without a zone."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class RunStore:
    """The raw bookkeeping of one run."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run_id: str):
        self.con = con
        self.run_id = run_id

    # --- the run and its steps ------------------------------------------------------------
    def register(self, config: RunConfig) -> None:
        self.con.execute(
            "insert into raw.runs values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (run_id) do nothing",
            [config.run_id, config.strategy, config.annotator, config.seed, config.rounds, config.budget,
             config.to_json(), now()],
        )

    def completed_steps(self) -> set[tuple[int, str]]:
        rows = self.con.execute(
            "select round_index, step from raw.run_steps where run_id = ?", [self.run_id]).fetchall()
        return {(int(r), str(s)) for r, s in rows}

    def mark_done(self, round_index: int, step: str, seconds: float) -> None:
        self.con.execute(
            "insert into raw.run_steps values (?, ?, ?, ?, ?) on conflict do nothing",
            [self.run_id, round_index, step, seconds, now()],
        )

    def artifact(self, name: str) -> dict | None:
        row = self.con.execute(
            "select value_json from raw.run_artifacts where run_id = ? and name = ?", [self.run_id, name]
        ).fetchone()
        return json.loads(row[0]) if row else None

    def store_artifact(self, name: str, value: dict) -> None:
        self.con.execute(
            "insert into raw.run_artifacts values (?, ?, ?, ?) on conflict do nothing",
            [self.run_id, name, json.dumps(value, sort_keys=True), now()],
        )

    def eval_split(self) -> dict:
        """The warehouse's FBL2024 pool/test split: its seed (dbt var karl_split_seed, from
        KARL_SPLIT_SEED) and the labelled pairs in each half."""
        seed, n_pool, n_test = self.con.execute("""
            select min(split_seed),
                   count(*) filter (where eval_set = 'pool' and has_majority),
                   count(*) filter (where eval_set = 'test' and has_majority)
            from marts.fct_eval_sets
            where eval_set in ('pool', 'test')
        """).fetchone()
        return {"split_seed": None if seed is None else int(seed), "n_pool": int(n_pool), "n_test": int(n_test)}

    def shared_hyperparameters(self, tuning_key: str) -> dict | None:
        """Hyperparameters any run tuned with the same key (features, labels, trials, seed)."""
        row = self.con.execute(
            "select value_json from raw.run_artifacts where name = 'hyperparameters' "
            "and json_extract_string(value_json, '$.tuning_key') = ? limit 1", [tuning_key]).fetchone()
        return json.loads(row[0]) if row else None

    # --- what the steps record -----------------------------------------------------------------
    def record_bag_members(self, round_index: int, member_class_counts: list[dict]) -> None:
        stamp = now()
        rows = [(self.run_id, round_index, member, label, int(count), stamp)
                for member, counts in enumerate(member_class_counts) for label, count in counts.items()]
        warehouse.insert_rows(self.con, "raw.bag_members", BAG_MEMBER_COLUMNS, rows)

    def record_selections(self, rows: list[tuple]) -> None:
        """Rows in SELECTION_COLUMNS order."""
        warehouse.insert_rows(self.con, "raw.selections", SELECTION_COLUMNS, rows)

    def record_pool_predictions(self, round_index: int, frame: pd.DataFrame, stamp: datetime) -> None:
        """frame: pair_key, predicted_class."""
        cursor = self.con.cursor()
        try:
            cursor.register("_karl_pool_predictions", frame)
            cursor.execute(
                "insert into raw.pool_predictions select ?, ?, pair_key, predicted_class, ? "
                "from _karl_pool_predictions on conflict do nothing", [self.run_id, round_index, stamp])
        finally:
            cursor.close()

    def pool_drift(self, round_index: int) -> float | None:
        """Share of the pool sample whose predicted class changed since the previous round
        (None in round 0 or without both rounds' predictions)."""
        if round_index == 0:
            return None
        share, n = self.con.execute("""
            select avg(case when cur.predicted_class <> prev.predicted_class then 1.0 else 0.0 end), count(*)
            from raw.pool_predictions as cur
            inner join raw.pool_predictions as prev
                on cur.run_id = prev.run_id and cur.pair_key = prev.pair_key
                and prev.round_index = cur.round_index - 1
            where cur.run_id = ? and cur.round_index = ?
        """, [self.run_id, round_index]).fetchone()
        return float(share) if n else None

    def record_round_metrics(self, round_index: int, metrics: dict) -> None:
        self.con.execute(
            "insert into raw.round_metrics values (?, ?, ?, ?) on conflict do nothing",
            [self.run_id, round_index, json.dumps(metrics, sort_keys=True), now()],
        )

    def annotation_stats(self, round_index: int) -> dict[str, object]:
        """Selected pairs, calls, spend and accepted labels of a round."""
        selected = self.con.execute(
            "select count(*) from raw.selections where run_id = ? and round_index = ?",
            [self.run_id, round_index]).fetchone()[0]
        calls, cost = self.con.execute(
            "select count(*), coalesce(sum(cost_usd), 0) from raw.llm_calls where run_id = ? and round_index = ?",
            [self.run_id, round_index]).fetchone()
        accepted = dict(self.con.execute("""
            select relation_label, count(*) from marts.fct_consensus_labels
            where run_id = ? and round_index = ? and is_accepted
            group by relation_label
        """, [self.run_id, round_index]).fetchall())
        n_accepted = int(sum(accepted.values()))
        stats: dict[str, object] = {
            "n_annotated_pairs": int(selected),
            "n_calls": int(calls),
            "cost_usd": float(cost),
            "n_accepted_pairs": n_accepted,
            "yield": (n_accepted / selected) if selected else None,
        }
        for label in RELATION_CLASSES:
            stats[f"accepted_{label}"] = int(accepted.get(label, 0))
        return stats


# --- the warehouse around runs ------------------------------------------------------------------
def marts_exist(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name in ('fct_training_labels', 'fct_eval_sets', 'fct_human_labels', 'dim_items')"
    ).fetchone()
    return row[0] == 4


def n_human_training_labels(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute(
        "select count(*) from marts.fct_training_labels where label_source <> 'llm'").fetchone()[0])


def run_ids_of_experiment(con: duckdb.DuckDBPyConnection, experiment_id: str) -> list[str]:
    return [row[0] for row in con.execute(
        "select run_id from raw.runs where json_extract_string(config_json, '$.experiment_id') = ? "
        "order by run_id", [experiment_id]).fetchall()]


def load_run_config(con: duckdb.DuckDBPyConnection, run_id: str) -> RunConfig:
    """A run's configuration as last saved (a resume may have raised --max-cost)."""
    row = con.execute("select config_json from raw.runs where run_id = ?", [run_id]).fetchone()
    if row is None:
        raise UnknownRunError(f"No run {run_id!r} in this warehouse (see `karl status`).")
    override = con.execute(
        "select value_json from raw.run_artifacts where run_id = ? and name like 'config@%' "
        "order by created_at desc limit 1", [run_id]).fetchone()
    return RunConfig.from_json(override[0] if override else row[0])


def save_run_config(con: duckdb.DuckDBPyConnection, config: RunConfig) -> None:
    """Record a changed setting of an existing run (e.g. a larger --max-cost on resume). raw is
    append-only: the new configuration is a run artifact, and the latest one wins."""
    stamp = now()
    con.execute("insert into raw.run_artifacts values (?, ?, ?, ?)",
                [config.run_id, f"config@{stamp.isoformat()}", config.to_json(), stamp])


def config_for_one_more_round(con: duckdb.DuckDBPyConnection, new_run: RunConfig,
                              round_spend_usd: float | None) -> RunConfig:
    """`karl run --rounds 1 --resume` as a scheduler means it: the configuration that runs one more
    labelling round of run `new_run.run_id`, created from `new_run` (1 round) when the warehouse has
    no such run. A run whose last round is evaluated gets one more round; one stopped inside its
    last round (the spend cap, a crash) resumes it. The spend cap is per round: the run's cap
    becomes what it has spent so far plus `round_spend_usd`. Saved as the run's latest config."""
    try:
        config = load_run_config(con, new_run.run_id)
    except UnknownRunError:
        config = RunConfig.from_json(new_run.to_json())
        config.rounds = 1
    else:
        if (config.rounds, "evaluate") in RunStore(con, config.run_id).completed_steps():
            config.rounds += 1
    spent = con.execute("select coalesce(sum(cost_usd), 0) from raw.llm_calls where run_id = ?",
                        [config.run_id]).fetchone()[0]
    config.max_cost_usd = None if round_spend_usd is None else float(spent) + round_spend_usd
    if con.execute("select count(*) from raw.runs where run_id = ?", [config.run_id]).fetchone()[0]:
        save_run_config(con, config)
    return config
