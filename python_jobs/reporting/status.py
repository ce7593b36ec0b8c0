"""`karl status`: runs, rounds, labels and spend at a glance, read from the marts."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
from rich.console import Console
from rich.table import Table


@dataclass
class Status:
    runs: list[tuple] = field(default_factory=list)
    labels: list[tuple] = field(default_factory=list)
    review_queue: tuple[int, int] = (0, 0)  # (queued pairs, of which reviewed)
    missing: list[str] = field(default_factory=list)  # marts not built yet


RUNS_QUERY = """
    with last_rounds as (
        select *
        from marts.rpt_round_metrics
        qualify row_number() over (partition by run_id order by round_index desc) = 1
    )
    select
        runs.run_id, runs.strategy, runs.annotator, runs.seed,
        runs.n_rounds_evaluated, runs.rounds_planned,
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


def _relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
    ).fetchone()
    return bool(row and row[0])


def collect_status(con: duckdb.DuckDBPyConnection) -> Status:
    status = Status()
    needed = ["fct_runs", "rpt_round_metrics", "fct_training_labels", "rpt_run_stopping_signal", "fct_review_queue"]
    status.missing = [name for name in needed if not _relation_exists(con, "marts", name)]
    if status.missing:
        return status
    status.runs = con.execute(RUNS_QUERY).fetchall()
    status.labels = con.execute("""
        select label_source, relation_label, count(*)
        from marts.fct_training_labels
        group by label_source, relation_label
        order by label_source, relation_label
    """).fetchall()
    queued = con.execute(
        "select count(distinct pair_key), count(distinct case when is_reviewed then pair_key end) "
        "from marts.fct_review_queue"
    ).fetchone()
    status.review_queue = (int(queued[0]), int(queued[1]))
    return status


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render(status: Status, console: Console) -> None:
    if status.missing:
        console.print(f"The marts are not built yet ({', '.join(status.missing)} missing): run `karl build`.")
        return
    runs = Table(title="Runs")
    for column in ("run", "strategy", "annotator", "seed", "rounds", "ID F1", "OOD F1", "OOD Δ r0",
                   "LLM labels", "spend $", "stop?"):
        runs.add_column(column)
    for (run_id, strategy, annotator, seed, evaluated, planned, id_f1, ood_f1, ood_delta, spend,
         n_llm, should_stop, reason) in status.runs:
        stop = "-" if should_stop is None else ("yes: " if should_stop else "no: ") + str(reason)
        runs.add_row(run_id, strategy, annotator, str(seed), f"{evaluated}/{planned + 1}", _fmt(id_f1),
                     _fmt(ood_f1), _fmt(ood_delta), str(n_llm), _fmt(spend, 4), stop)
    console.print(runs)
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
