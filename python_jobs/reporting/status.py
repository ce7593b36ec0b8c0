"""`karl status`: runs, rounds, labels and spend at a glance, also while a run holds the warehouse.

With the warehouse free, the marts answer (as before) and the runs' published progress
(`reporting.progress`) adds what the marts do not know yet: a run still working, a run that
aborted before its closing build. With the warehouse locked by a run, the marts are read from
the copy the run refreshes after each build (`<db>.runs/latest_marts.duckdb`) and the progress
files add each run's state and current step; the output says so.
Run ids are printed whole (they are what `karl run --resume` takes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from python_jobs.reporting.progress import (
    ABORTED,
    COMPLETED,
    RUNNING,
    RunSnapshot,
    read_snapshots,
)
from python_jobs.warehouse.connection import unbuilt_message


@dataclass
class Status:
    runs: list[dict] = field(default_factory=list)
    labels: list[tuple] = field(default_factory=list)
    review_queue: tuple[int, int] = (0, 0)  # (queued pairs, of which reviewed)
    missing: list[str] = field(default_factory=list)  # marts not built yet
    unbuilt: str = ""  # what to run when the marts are missing (the ingest too on a warehouse never loaded)
    locked_by: str | None = None  # the warehouse is held by another process: progress files only
    snapshots: list[RunSnapshot] = field(default_factory=list)


RUNS_QUERY = """
    with last_rounds as (
        select *
        from marts.rpt_round_metrics
        qualify row_number() over (partition by run_id order by round_index desc) = 1
    )
    select
        runs.run_id, runs.strategy, runs.annotator, runs.seed,
        runs.n_rounds_evaluated, runs.rounds_planned, runs.is_complete,
        last_rounds.id_macro_f1, last_rounds.ood_macro_f1, last_rounds.ood_macro_f1_delta_to_round0,
        last_rounds.cumulative_cost_usd,
        coalesce(labels.n_llm_labels, 0) as n_llm_labels,
        signal.should_stop, signal.stop_reason
    from marts.fct_runs as runs
    left join last_rounds on runs.run_id = last_rounds.run_id
    left join (
        select run_id, count(*) as n_llm_labels
        from marts.fct_training_labels where label_source = 'llm' group by run_id
    ) as labels on runs.run_id = labels.run_id
    left join marts.rpt_run_stopping_signal as signal on runs.run_id = signal.run_id
    order by runs.created_at, runs.run_id
"""

NEEDED = ["fct_runs", "rpt_round_metrics", "fct_training_labels", "rpt_run_stopping_signal", "fct_review_queue"]


def _relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
    ).fetchone()
    return bool(row and row[0])


def collect_status(con: duckdb.DuckDBPyConnection | None, db_path: Path | str | None = None,
                   locked_by: str | None = None) -> Status:
    """From the marts when `con` is given, plus the published progress of the runs of `db_path`."""
    status = Status(locked_by=locked_by, snapshots=read_snapshots(db_path) if db_path else [])
    if con is not None:
        status.missing = [name for name in NEEDED if not _relation_exists(con, "marts", name)]
        status.unbuilt = unbuilt_message(con, status.missing[0]) if status.missing else ""
        if not status.missing:
            cursor = con.execute(RUNS_QUERY)
            names = [column[0] for column in cursor.description]
            status.runs = [dict(zip(names, row)) for row in cursor.fetchall()]
            roles = run_datasets(con)
            status.runs = [{**run, **roles.get(run["run_id"], {})} for run in status.runs]
            status.labels = con.execute("""
                select label_source, relation_label, count(*) from marts.fct_training_labels
                group by label_source, relation_label order by label_source, relation_label
            """).fetchall()
            queued = con.execute(
                "select count(distinct pair_key), count(distinct case when is_reviewed then pair_key end) "
                "from marts.fct_review_queue").fetchone()
            status.review_queue = (int(queued[0]), int(queued[1]))
    status.runs = merge_runs(status.runs, status.snapshots)
    return status


def run_datasets(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """Per run: its datasets' roles and, at its last evaluated round, the OOD macro-F1 of each eval
    dataset (fct_round_metrics.ood_by_dataset). Empty on marts built before roles existed."""
    import json

    try:
        rows = con.execute("""
            select run_id, train_labels, pool_labels, eval_labels, ood_by_dataset
            from marts.fct_round_metrics
            qualify row_number() over (partition by run_id order by round_index desc) = 1
        """).fetchall()
    except duckdb.Error:
        return {}
    found = {}
    for run_id, train, pool, evaluation, by_dataset in rows:
        figures = json.loads(by_dataset) if by_dataset else {}
        found[run_id] = {"train_labels": train, "pool_labels": pool, "eval_labels": evaluation,
                         "ood_macro_f1_by_dataset": {name: values.get("macro_f1") for name, values in figures.items()}}
    return found


def merge_runs(mart_runs: list[dict], snapshots: list[RunSnapshot]) -> list[dict]:
    """The marts' runs with a state from the progress files; runs only the files know (working,
    or aborted before any build) are added from them."""
    by_id = {snapshot.run_id: snapshot for snapshot in snapshots}
    merged = []
    for run in mart_runs:
        snapshot = by_id.pop(run["run_id"], None)
        state = snapshot.effective_state if snapshot else (COMPLETED if run.get("is_complete") else "incomplete")
        if snapshot and state == COMPLETED and not run.get("is_complete"):
            state = "stopped early"
        merged.append({**run, "state": state, "current": snapshot.current if snapshot else "",
                       "message": snapshot.message if snapshot else ""})
    for snapshot in by_id.values():
        merged.append(_from_snapshot(snapshot))
    return merged


def _from_snapshot(snapshot: RunSnapshot) -> dict:
    evaluated = 0 if snapshot.last_round_evaluated is None else snapshot.last_round_evaluated + 1
    return {
        "run_id": snapshot.run_id, "strategy": snapshot.strategy, "annotator": snapshot.annotator,
        "seed": snapshot.seed, "n_rounds_evaluated": evaluated, "rounds_planned": snapshot.rounds,
        "id_macro_f1": snapshot.id_macro_f1, "ood_macro_f1": snapshot.ood_macro_f1,
        "ood_macro_f1_delta_to_round0": None, "cumulative_cost_usd": snapshot.spend_usd,
        "n_llm_labels": snapshot.n_accepted_labels, "should_stop": None, "stop_reason": None,
        "state": snapshot.effective_state, "current": snapshot.current, "message": snapshot.message,
    }


def status_record(status: Status) -> dict:
    """The status as plain data (for --log-format json)."""
    return {"locked_by": status.locked_by, "missing_marts": status.missing,
            "runs": [{k: _plain(v) for k, v in run.items()} for run in status.runs],
            "labels": [{"source": s, "relation_label": l, "n": n} for s, l, n in status.labels],
            "review_queue": {"queued": status.review_queue[0], "reviewed": status.review_queue[1]}}


def _plain(value: object) -> object:
    """NaN -> None (JSON has no NaN), numpy scalars -> Python ones."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render(status: Status, console: Console) -> None:
    if status.locked_by:
        source = ("the marts as its run's last dbt build left them (<warehouse>.runs/latest_marts.duckdb)"
                  if status.labels else "what its runs publish after every step")
        console.print(f"The warehouse is in use by {status.locked_by}; showing {source}, with each run's "
                      "state and current step.", soft_wrap=True)
    elif status.missing and not status.runs:
        console.print(status.unbuilt[0].upper() + status.unbuilt[1:] + ".", soft_wrap=True)
        return
    runs = Table(title="Runs")
    runs.add_column("run", no_wrap=True, min_width=max([len(r["run_id"]) for r in status.runs] + [3]))
    for column in ("state", "strategy", "annotator", "seed", "rounds", "ID F1", "OOD F1", "OOD Δ r0",
                   "LLM labels", "spend $", "stop?"):
        runs.add_column(column, overflow="fold")
    for run in status.runs:
        state = run["state"] + (f" ({run['current']})" if run.get("current") and run["state"] == RUNNING else "")
        stop = "-" if run.get("should_stop") is None else ("yes: " if run["should_stop"] else "no: ") + str(run["stop_reason"])
        planned = run.get("rounds_planned")
        runs.add_row(run["run_id"], state, str(run["strategy"]), str(run["annotator"]), str(run["seed"]),
                     f"{run['n_rounds_evaluated']}/{'-' if planned is None else planned + 1}", _fmt(run["id_macro_f1"]),
                     _fmt(run["ood_macro_f1"]), _fmt(run["ood_macro_f1_delta_to_round0"]), str(run["n_llm_labels"]),
                     _fmt(run["cumulative_cost_usd"], 4), stop)
    console.print(runs)
    for run in status.runs:
        if run.get("eval_labels") is not None:
            per_dataset = ", ".join(f"{name} {_fmt(value)}" for name, value in
                                    (run.get("ood_macro_f1_by_dataset") or {}).items())
            console.print(f"{run['run_id']}: train {run['train_labels'] or 'none'}, pool {run['pool_labels'] or 'none'}, "
                          f"eval {run['eval_labels'] or 'none'}" + (f"; OOD F1 per eval dataset: {per_dataset}"
                                                                  if per_dataset else ""), soft_wrap=True)
    for run in status.runs:
        if run["state"] in (ABORTED, "incomplete", "stopped early"):
            why = f": {run['message']}" if run.get("message") else ""
            console.print(f"{run['run_id']} {run['state']}{why} — continue it with `karl run --resume {run['run_id']}`",
                          soft_wrap=True)
    if status.locked_by and not status.labels:
        return
    labels = Table(title="Training labels")
    for column in ("source", "class", "labels"):
        labels.add_column(column)
    for source, label, count in status.labels:
        labels.add_row(source, str(label), str(count))
    console.print(labels)
    queued, reviewed = status.review_queue
    console.print(f"Review queue: {queued} pairs with split or invalid votes, {reviewed} reviewed "
                  "(`karl export review-queue`).")


def round_rows(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> list[tuple]:
    """Per-round figures of some runs (marts.fct_round_metrics), for the round table."""
    if not run_ids:
        return []
    return con.execute(f"""
        select run_id, strategy, round_index, id_macro_f1, ood_macro_f1, n_training_labels,
            n_annotated_pairs, n_accepted_pairs, acceptance_yield, diversity, seconds_total
        from marts.fct_round_metrics
        where run_id in ({", ".join("?" for _ in run_ids)})
        order by run_id, round_index
    """, run_ids).fetchall()
