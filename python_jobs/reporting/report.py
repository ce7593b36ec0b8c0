"""`karl report`: one self-contained HTML page from the reporting marts.

Everything comes from the warehouse (marts.rpt_round_metrics, rpt_class_balance,
rpt_cost_by_round, rpt_annotator_agreement, rpt_run_stopping_signal, fct_runs); plots are PNGs
embedded as base64, so the page is one file that opens offline and can be mailed around.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from python_jobs.reporting import plots as report_plots
from python_jobs.reporting.judge import JudgeFrames, judge_section, load_judge_frames

REPORT_FILE = "karl_report.html"


@dataclass
class ReportData:
    runs: pd.DataFrame
    metrics: pd.DataFrame
    balance: pd.DataFrame
    costs: pd.DataFrame
    agreement: pd.DataFrame
    stopping: pd.DataFrame
    judges: JudgeFrames | None = None


def _frame(con: duckdb.DuckDBPyConnection, relation: str, run_ids: list[str] | None, order: str) -> pd.DataFrame:
    where = ""
    params: list[object] = []
    if run_ids:
        where = "where run_id in (" + ", ".join("?" for _ in run_ids) + ")"
        params = list(run_ids)
    return con.execute(f"select * from marts.{relation} {where} order by {order}", params).df()


def load_report_data(con: duckdb.DuckDBPyConnection, run_ids: list[str] | None = None) -> ReportData:
    data = ReportData(
        runs=_frame(con, "fct_runs", run_ids, "strategy, seed, run_id"),
        metrics=_frame(con, "rpt_round_metrics", run_ids, "run_id, round_index"),
        balance=_frame(con, "rpt_class_balance", run_ids, "run_id, round_index, relation_label"),
        costs=_frame(con, "rpt_cost_by_round", run_ids, "run_id, round_index"),
        agreement=_frame(con, "rpt_annotator_agreement", run_ids, "run_id, round_index"),
        stopping=_frame(con, "rpt_run_stopping_signal", run_ids, "run_id"),
        judges=load_judge_frames(con),
    )
    if run_ids:
        unknown = sorted(set(run_ids) - set(data.runs["run_id"]))
        if unknown:
            raise ValueError(f"unknown run id(s): {', '.join(unknown)}")
    return data


def _img(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _table(frame: pd.DataFrame, columns: dict[str, str], digits: int = 3) -> str:
    """An HTML table of `columns` (column -> header), numbers right-aligned and rounded."""
    head = "".join(f"<th>{html.escape(header)}</th>" for header in columns.values())
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column in columns:
            value = row.get(column)
            if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
                cells.append('<td class="num">–</td>')
            elif isinstance(value, bool):
                cells.append(f"<td>{'yes' if value else 'no'}</td>")
            elif isinstance(value, float):
                value = 0.0 if abs(value) < 0.5 * 10 ** -digits else value  # no "-0.000"
                cells.append(f'<td class="num">{value:.{digits}f}</td>')
            elif isinstance(value, int) or hasattr(value, "is_integer"):
                cells.append(f'<td class="num">{value}</td>')
            else:
                cells.append(f"<td>{html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _summary(data: ReportData) -> pd.DataFrame:
    last = data.metrics.sort_values("round_index").groupby("run_id").tail(1)
    first = data.metrics.sort_values("round_index").groupby("run_id").head(1)
    summary = data.runs[["run_id", "strategy", "annotator", "seed"]].merge(
        first[["run_id", "id_macro_f1", "ood_macro_f1"]].rename(
            columns={"id_macro_f1": "id_round0", "ood_macro_f1": "ood_round0"}), on="run_id", how="left"
    ).merge(
        last[["run_id", "round_index", "id_macro_f1", "ood_macro_f1", "n_training_labels", "cumulative_cost_usd"]],
        on="run_id", how="left",
    ).merge(data.stopping[["run_id", "should_stop", "stop_reason"]], on="run_id", how="left")
    accepted = data.balance.groupby("run_id")["n_accepted_labels"].sum().rename("n_accepted").reset_index()
    return summary.merge(accepted, on="run_id", how="left")


CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 1.2em 2em 3em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.meta { color: #666; font-size: 0.9em; } .note { color: #555; font-size: 0.92em; max-width: 70em; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; } th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } tr:nth-child(even) td { background: #fafafa; }
.scroll { overflow-x: auto; }
"""


def render_html(data: ReportData, title: str = "karl report") -> str:
    styles = report_plots.run_styles(data.runs)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{len(data.runs)} run(s): {html.escape(", ".join(data.runs["run_id"]))} · '
        f"generated {generated} from the warehouse marts</p>",
        "<h2>Runs</h2>",
        '<p class="note">Macro-F1 of the model trained at the start of the first and last round; '
        "accepted = LLM labels the run accepted (K unanimous votes); stop = the stopping signal "
        "(rpt_run_stopping_signal).</p>",
        '<div class="scroll">' + _table(_summary(data), {
            "run_id": "run", "strategy": "strategy", "annotator": "annotator", "seed": "seed",
            "round_index": "last round", "id_round0": "ID F1 r0", "id_macro_f1": "ID F1 last",
            "ood_round0": "OOD F1 r0", "ood_macro_f1": "OOD F1 last", "n_accepted": "accepted",
            "n_training_labels": "training labels", "cumulative_cost_usd": "spend $",
            "should_stop": "stop?", "stop_reason": "why"}) + "</div>",
    ]
    if data.judges is not None:
        parts += judge_section(data.judges, _table)
    if data.metrics.empty:
        parts.append("<p>No evaluated rounds yet.</p></body></html>")
        return "\n".join(parts)
    parts += [
        "<h2>Macro-F1 per round</h2>",
        _img(report_plots.macro_f1_curves(data.metrics, styles), "ID and OOD macro-F1 per round"),
    ]
    repeated = data.runs.groupby("strategy")["seed"].nunique()
    if len(data.runs) > 1 and (repeated > 1).any():
        parts += [
            "<h2>Experiment view: strategies over seeds</h2>",
            '<p class="note">Per strategy and round: the mean over its runs (line), ± one standard '
            "deviation (band) and the lowest and highest run (thin lines).</p>",
            _img(report_plots.experiment_view(data.metrics), "mean and spread of macro-F1 per strategy"),
        ]
    parts += [
        "<h2>Per-class F1</h2>",
        _img(report_plots.per_class_f1(data.metrics, styles), "per-class F1 per round"),
        "<h2>Yield and class mix of accepted labels</h2>",
        _img(report_plots.yield_and_class_mix(data.metrics, data.balance, styles), "yield and class mix"),
        "<h2>Diversity against gain</h2>",
        _img(report_plots.diversity_against_gain(data.metrics, styles), "diversity against gain"),
        "<h2>Cost per round</h2>",
    ]
    if data.costs.empty:
        parts.append("<p>No annotator calls recorded.</p>")
    else:
        parts.append(_img(report_plots.cost_per_round(data.costs, styles, data.runs), "cost per round"))
        parts.append('<div class="scroll">' + _table(data.costs, {
            "run_id": "run", "round_index": "round", "n_pairs": "pairs", "n_calls": "calls",
            "n_invalid_calls": "invalid", "n_retries": "retries", "tokens_in": "tokens in",
            "tokens_out": "tokens out", "cost_usd": "cost $", "latency_p50_ms": "p50 ms",
            "latency_p90_ms": "p90 ms", "latency_p99_ms": "p99 ms", "n_accepted_labels": "accepted",
            "cost_per_accepted_label_usd": "$ / label", "cumulative_cost_usd": "cumulative $"}, digits=4) + "</div>")
    parts += [
        "<h2>Annotator agreement</h2>",
        '<p class="note">Unanimity = all K votes valid and equal (the acceptance rule). Fleiss\' kappa over '
        "the valid votes. Majority = more than K/2 equal votes: what a looser rule would have accepted, and "
        "the accuracy of each rule against the reference label where one exists (replay: the human "
        "majority; simulated: the known label).</p>",
        '<div class="scroll">' + _table(data.agreement, {
            "run_id": "run", "round_index": "round", "n_pairs": "pairs", "unanimity_rate": "unanimity",
            "unanimity_rate_substitute": "unan. sub", "unanimity_rate_complement": "unan. comp",
            "unanimity_rate_other": "unan. other", "fleiss_kappa": "Fleiss κ",
            "n_majority_only_pairs": "majority-only pairs", "unanimity_accuracy": "acc. unanimous",
            "majority_accuracy": "acc. majority", "majority_only_accuracy": "acc. majority-only",
            "n_invalid_calls": "invalid votes"}) + "</div>",
        "<h2>Round metrics</h2>",
        '<div class="scroll">' + _table(data.metrics, {
            "run_id": "run", "round_index": "round", "id_macro_f1": "ID F1", "ood_macro_f1": "OOD F1",
            "id_macro_f1_delta_to_round0": "ID Δ r0", "ood_macro_f1_delta_to_round0": "OOD Δ r0",
            "ood_macro_f1_delta_to_previous": "OOD Δ prev", "n_training_labels": "training labels",
            "n_annotated_pairs": "annotated", "n_accepted_pairs": "accepted", "acceptance_yield": "yield",
            "diversity": "diversity", "seconds_total": "seconds"}) + "</div>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(con: duckdb.DuckDBPyConnection, out_dir: Path | str, run_ids: list[str] | None = None,
                 title: str = "karl report") -> Path:
    """Write `<out_dir>/karl_report.html` for the given runs (all runs when none given)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = load_report_data(con, run_ids)
    path = out / REPORT_FILE
    path.write_text(render_html(data, title), encoding="utf-8")
    return path
