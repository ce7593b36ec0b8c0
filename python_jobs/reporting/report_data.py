"""What `karl report` reads from the warehouse, as pandas frames (ReportData)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from python_jobs.judge.marts import JudgeFrames, load_judge_frames

EXAMPLE_PAIRS = 12


@dataclass
class ReportData:
    runs: pd.DataFrame
    metrics: pd.DataFrame
    costs: pd.DataFrame
    agreement: pd.DataFrame
    stopping: pd.DataFrame
    confusion: pd.DataFrame
    examples: pd.DataFrame
    quarantine: pd.DataFrame
    gx_docs: str | None = None  # relative link to the GX Data Docs index, when built
    judges: JudgeFrames | None = None
    # per run: its datasets' roles and each eval dataset's OOD macro-F1 at its last round
    datasets: pd.DataFrame | None = None
    # per experiment run and round: OOD, labels acquired, the run's floor and ceiling (marts.fct_experiment_runs)
    learning: pd.DataFrame | None = None
    # per run, round and candidate: the re-choice by acquired-label CV (marts.fct_round_model_choices)
    model_choices: pd.DataFrame | None = None


def _exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    row = con.execute("select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                      [schema, name]).fetchone()
    return bool(row and row[0])


def _frame(con: duckdb.DuckDBPyConnection, relation: str, run_ids: list[str] | None, order: str,
           columns: str = "*") -> pd.DataFrame:
    schema, name = relation.split(".")
    if not _exists(con, schema, name):
        return pd.DataFrame()
    where, params = "", []
    if run_ids is not None:
        where = "where run_id in (" + ", ".join("?" for _ in run_ids) + ")" if run_ids else "where false"
        params = list(run_ids)
    return con.execute(f"select {columns} from {relation} {where} order by {order}", params).df()


EXAMPLES_QUERY = """
    with last_round as (
        select * from intermediate.int_llm_votes_tallied where run_id in ({runs})
        qualify round_index = max(round_index) over (partition by run_id)
    ),
    picked as (
        -- per run: the most uncertain accepted and not accepted pairs of its last annotated round
        select *, row_number() over (partition by run_id, is_unanimous order by uncertainty_score desc nulls last,
                                     pair_key) as rank_in_group
        from last_round
    )
    select
        picked.run_id, picked.round_index, picked.pair_key, picked.strategy, picked.uncertainty_score,
        item_a.title as item_a_title, item_b.title as item_b_title,
        picked.is_unanimous as accepted, picked.reference_relation_label,
        calls.attempt_index, calls.relation_label, calls.fbl_label, calls.raw_response
    from picked
    left join marts.dim_items as item_a on item_a.item_id = (
        select any_value(item_a_id) from staging.stg_karl__llm_calls as c where c.pair_key = picked.pair_key)
    left join marts.dim_items as item_b on item_b.item_id = (
        select any_value(item_b_id) from staging.stg_karl__llm_calls as c where c.pair_key = picked.pair_key)
    inner join staging.stg_karl__llm_calls as calls
        on calls.run_id = picked.run_id and calls.round_index = picked.round_index
        and calls.pair_key = picked.pair_key
    where picked.rank_in_group <= ?
    order by picked.run_id, picked.is_unanimous desc, picked.uncertainty_score desc nulls last,
        picked.pair_key, calls.attempt_index
"""


def _examples(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pd.DataFrame:
    needed = [("intermediate", "int_llm_votes_tallied"), ("staging", "stg_karl__llm_calls"), ("marts", "dim_items")]
    if not run_ids or not all(_exists(con, s, n) for s, n in needed):
        return pd.DataFrame()
    per_group = max(1, EXAMPLE_PAIRS // (2 * len(run_ids)))
    query = EXAMPLES_QUERY.format(runs=", ".join("?" for _ in run_ids))
    return con.execute(query, [*run_ids, per_group]).df()


def load_report_data(con: duckdb.DuckDBPyConnection, run_ids: list[str] | None = None,
                     gx_docs: str | None = None) -> ReportData:
    runs = _frame(con, "marts.fct_runs", run_ids, "strategy, seed, run_id")
    if run_ids:
        unknown = sorted(set(run_ids) - set(runs.get("run_id", pd.Series(dtype=str))))
        if unknown:
            raise ValueError(f"unknown run id(s): {', '.join(unknown)}")
    ids = list(runs["run_id"]) if not runs.empty else []
    configs = _frame(con, "staging.stg_karl__runs", ids, "run_id", "run_id, config_json")
    if not configs.empty:
        runs = runs.merge(configs, on="run_id", how="left")
    quarantine = pd.DataFrame()
    if _exists(con, "staging", "stg_karl__quarantined_rows"):
        quarantine = con.execute("""
            select source, split_part(reason, ':', 1) as kind, count(*) as n_rows,
                   count(distinct batch_id) as n_batches, max(ingested_at) as last_seen
            from staging.stg_karl__quarantined_rows group by all order by source, n_rows desc
        """).df()
    return ReportData(
        runs=runs,
        metrics=_frame(con, "marts.rpt_round_metrics", ids, "run_id, round_index"),
        costs=_frame(con, "marts.rpt_cost_by_round", ids, "run_id, round_index"),
        agreement=_frame(con, "marts.rpt_annotator_agreement", ids, "run_id, round_index"),
        stopping=_frame(con, "marts.rpt_run_stopping_signal", ids, "run_id"),
        confusion=_frame(con, "marts.rpt_confusion", ids, "run_id, round_index, matrix"),
        examples=_examples(con, ids),
        quarantine=quarantine,
        gx_docs=gx_docs,
        judges=load_judge_frames(con),
        datasets=_datasets(con, ids),
        learning=learning_curves(con, ids),
        model_choices=_frame(con, "marts.fct_round_model_choices", ids, "run_id, round_index, candidate_index"),
    )


def learning_curves(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pd.DataFrame:
    """Rounds of the runs that have a ceiling (experiment cells): run_id, strategy, split_seed,
    round_index, n_labels_acquired, ood_macro_f1, floor and ceiling; empty otherwise."""
    if not run_ids or not (_exists(con, "marts", "fct_experiment_rounds") and _exists(con, "marts", "fct_experiment_runs")):
        return pd.DataFrame()
    marks = ", ".join("?" for _ in run_ids)
    return con.execute(f"""
        select rounds.run_id, rounds.strategy, rounds.split_seed, rounds.round_index, rounds.n_labels_acquired,
               rounds.ood_macro_f1, runs.ood_macro_f1_round0 as floor_ood_macro_f1, runs.ceiling_ood_macro_f1
        from marts.fct_experiment_rounds as rounds
        inner join marts.fct_experiment_runs as runs on rounds.run_id = runs.run_id
        where rounds.run_id in ({marks}) and runs.ceiling_ood_macro_f1 is not null
        order by rounds.run_id, rounds.round_index
    """, list(run_ids)).df()


def _datasets(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pd.DataFrame:
    """run_id, labels ('train A; pool B; eval C') and ood_by_dataset ('C 0.431, D 0.402') at the
    run's last evaluated round; empty on marts built before roles existed."""
    from python_jobs.reporting.status import run_datasets

    roles = run_datasets(con)
    rows = []
    for run_id in run_ids:
        found = roles.get(run_id)
        if not found:
            continue
        per = ", ".join(f"{name} {value:.3f}" for name, value in found["ood_macro_f1_by_dataset"].items()
                        if value is not None)
        rows.append({"run_id": run_id,
                     "labels": f"train {found['train_labels'] or 'none'}; pool {found['pool_labels'] or 'none'}; "
                               f"eval {found['eval_labels'] or 'none'}",
                     "ood_by_dataset": per or None})
    return pd.DataFrame(rows, columns=["run_id", "labels", "ood_by_dataset"])


# ---------------------------------------------------------------- HTML pieces
