"""`karl report`: one self-contained HTML page from the warehouse.

Read from the marts (fct_runs, rpt_round_metrics, rpt_cost_by_round, rpt_annotator_agreement,
rpt_run_stopping_signal, rpt_confusion), plus three staging/intermediate views for what no mart
carries: the run's configuration (stg_karl__runs.config_json), the K votes with their reasons
(stg_karl__llm_calls, int_llm_votes_tallied) and the quarantine (stg_karl__quarantined_rows).
Plots are PNGs embedded as base64, so the page is one file that opens offline.

A panel with nothing to draw (no spend with a replay annotator, no confusion counts stored) is
left out and a sentence says why, instead of an empty frame.
"""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from python_jobs.reporting import plots
from python_jobs.judge.report_section import judge_section
from python_jobs.reporting.model_choice_section import model_choice_section
from python_jobs.reporting.report_data import ReportData, load_report_data  # noqa: F401 - the page's data
from python_jobs.warehouse.connection import require_marts

REPORT_FILE = "karl_report.html"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _omitted(text: str) -> str:
    return f'<p class="omitted">Not drawn: {html.escape(text)}</p>'


def _cell(value: object, digits: int) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return '<td class="num">–</td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, float):
        value = 0.0 if abs(value) < 0.5 * 10 ** -digits else value
        return f'<td class="num">{value:.{digits}f}</td>'
    if isinstance(value, int) or hasattr(value, "is_integer"):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def table(frame: pd.DataFrame, columns: dict[str, str], digits: int = 3) -> str:
    present = {column: header for column, header in columns.items() if column in frame.columns}
    head = "".join(f"<th>{html.escape(header)}</th>" for header in present.values())
    rows = ["<tr>" + "".join(_cell(row.get(column), digits) for column in present) + "</tr>"
            for _, row in frame.iterrows()]
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def axis_ranges(metrics: pd.DataFrame) -> dict[str, plots.AxisRange]:
    """One range per metric over every run of the report (baseline included for macro-F1)."""
    chance = [plots.CHANCE_MACRO_F1]
    per_class = [metrics[f"{p}_f1_{c}"] for p in ("id", "ood") for c in plots.CLASSES]
    return {
        "id_macro_f1": plots.metric_range([*metrics["id_macro_f1"], *chance]),
        "ood_macro_f1": plots.metric_range([*metrics["ood_macro_f1"], *chance]),
        "id_per_class": plots.metric_range(pd.concat(per_class[:3])),
        "ood_per_class": plots.metric_range(pd.concat(per_class[3:])),
        "diversity": plots.metric_range(metrics["diversity"].dropna(), min_span=0.1, step=0.01),
    }


def with_spend_and_labels(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per round: the LLM labels the round's model trained on (training labels beyond round 0's)
    and the spend before the round's own annotation (what that model cost)."""
    frame = metrics.sort_values(["run_id", "round_index"]).copy()
    first = frame.groupby("run_id")["n_training_labels"].transform("first")
    frame["accepted_labels_trained_on"] = frame["n_training_labels"] - first
    frame["spend_before_round_usd"] = (frame["cumulative_cost_usd"].fillna(0) - frame["cost_usd"].fillna(0))
    return frame


def _summary(data: ReportData) -> pd.DataFrame:
    ordered = data.metrics.sort_values("round_index")
    first = ordered.groupby("run_id").head(1)[["run_id", "id_macro_f1", "ood_macro_f1"]].rename(
        columns={"id_macro_f1": "id_round0", "ood_macro_f1": "ood_round0"})
    last = ordered.groupby("run_id").tail(1)[["run_id", "round_index", "id_macro_f1", "ood_macro_f1",
                                              "n_training_labels", "cumulative_cost_usd"]]
    accepted = data.metrics.groupby("run_id")["n_accepted_pairs"].sum().rename("n_accepted").reset_index()
    summary = data.runs[["run_id", "strategy", "annotator", "seed"]].merge(first, on="run_id", how="left")
    summary = summary.merge(last, on="run_id", how="left").merge(accepted, on="run_id", how="left")
    if not data.stopping.empty:
        summary = summary.merge(data.stopping[["run_id", "should_stop", "stop_reason"]], on="run_id", how="left")
    if data.datasets is not None and not data.datasets.empty:
        summary = summary.merge(data.datasets, on="run_id", how="left")
    return summary


def _configuration(runs: pd.DataFrame) -> str:
    """The settings of the runs: a column per run, a row per setting; settings equal in every run
    are listed once above."""
    if "config_json" not in runs.columns or runs["config_json"].isna().all():
        return _omitted("no run configuration recorded.")
    configs = {row.run_id: json.loads(row.config_json) for row in runs.itertuples() if row.config_json}
    flat = {run: _flatten(config) for run, config in configs.items()}
    keys = sorted(set().union(*flat.values()))
    same = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flat.values()}) == 1]
    varying = [k for k in keys if k not in same]
    first = next(iter(flat.values()))
    parts = [table(pd.DataFrame({"setting": same, "value": [_short(first.get(k)) for k in same]}),
                   {"setting": "setting (same in every run)", "value": "value"})]
    if varying:
        frame = pd.DataFrame({"setting": varying, **{run: [_short(f.get(k)) for k in varying] for run, f in flat.items()}})
        parts.append(table(frame, {"setting": "setting (differs)", **{run: run for run in flat}}))
    return "".join(parts)


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def _short(value: object) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "…"


def _examples_table(examples: pd.DataFrame) -> str:
    rows = []
    for (run_id, pair_key), calls in examples.groupby(["run_id", "pair_key"], sort=False):
        first = calls.iloc[0]
        votes = []
        for call in calls.itertuples():
            label = call.relation_label if isinstance(call.relation_label, str) else "invalid"
            code = f" ({int(call.fbl_label)})" if pd.notna(call.fbl_label) else ""
            reason = _reason(call.raw_response)
            votes.append(f"<li><b>{html.escape(label)}{code}</b>{': ' + html.escape(reason) if reason else ''}</li>")
        reference = first.reference_relation_label if isinstance(first.reference_relation_label, str) else "–"
        rows.append(
            "<tr>"
            f"<td>{html.escape(str(run_id))}<br>round {int(first.round_index)}</td>"
            f"<td>{html.escape(str(first.item_a_title or '–'))}</td><td>{html.escape(str(first.item_b_title or '–'))}</td>"
            f"<td><ol class=\"votes\">{''.join(votes)}</ol></td>"
            f"<td>{'yes' if bool(first.accepted) else 'no'}</td><td>{html.escape(reference)}</td>"
            f"{_cell(first.uncertainty_score, 3)}"
            "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("run", "item A", "item B", "K votes (FBL code): reason",
                                              "accepted", "reference", "uncertainty"))
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _reason(raw: object) -> str:
    if not isinstance(raw, str):
        return ""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return ""
    reason = value.get("reason") if isinstance(value, dict) else None
    return reason if isinstance(reason, str) else ""


CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 1.2em 2em 3em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.meta { color: #666; font-size: 0.9em; } .note { color: #555; font-size: 0.92em; max-width: 70em; }
.omitted { color: #8a6d3b; background: #fcf8e3; padding: 0.4em 0.7em; font-size: 0.92em; max-width: 70em; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; vertical-align: top; } th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } tr:nth-child(even) td { background: #fafafa; }
.scroll { overflow-x: auto; } ol.votes { margin: 0; padding-left: 1.3em; }
"""


def render_html(data: ReportData, title: str = "karl report") -> str:
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    run_list = ", ".join(data.runs["run_id"]) if not data.runs.empty else "none"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f'<p class="meta">{len(data.runs)} run(s): {html.escape(run_list)} · generated {generated} from the warehouse</p>']
    if data.gx_docs:
        parts.append(f'<p class="meta">Input validation: <a href="{html.escape(data.gx_docs)}">great-expectations '
                     "Data Docs</a> (suites, checkpoint runs and their results).</p>")
    if data.runs.empty or data.metrics.empty:
        parts.append("<p>No evaluated rounds yet: run <code>karl run</code>, then <code>karl build</code>.</p>")
        if data.judges is not None:
            parts += judge_section(data.judges, table)
        parts += _quarantine_section(data)
        return "\n".join(parts + ["</body></html>"])
    metrics = with_spend_and_labels(data.metrics)
    ranges = axis_ranges(metrics)
    several = metrics.groupby("strategy")["run_id"].nunique().max() > 1
    parts += [
        "<h2>Runs</h2>",
        _note("Macro-F1 of the model trained at the start of round 0 and of the last round; accepted = LLM "
              "labels accepted (K unanimous votes); stop = the stopping signal."),
        table(_summary(data), {
            "run_id": "run", "strategy": "strategy", "annotator": "annotator", "seed": "seed",
            "round_index": "last round", "id_round0": "ID F1 r0", "id_macro_f1": "ID F1 last",
            "ood_round0": "OOD F1 r0", "ood_macro_f1": "OOD F1 last", "n_accepted": "accepted",
            "n_training_labels": "training labels", "cumulative_cost_usd": "spend $",
            "should_stop": "stop?", "stop_reason": "why",
            "labels": "labelled datasets", "ood_by_dataset": "OOD F1 last, per eval dataset"}),
    ]
    if data.judges is not None:
        parts += judge_section(data.judges, table)
    parts += [
        "<h2>Macro-F1 per round</h2>",
        _note("Axes are fixed and shared: ID macro-F1 on " + ranges["id_macro_f1"].text() + ", OOD on "
              + ranges["ood_macro_f1"].text() + " in every panel of this page (the runs' range, padded to "
              "at least 0.20 so that a difference of 0.01 is drawn as 0.01). "
              + ("Lines are the mean over a strategy's runs, bands ± one standard deviation. " if several
                 else "One run per strategy: no spread over seeds to draw (run `karl experiment` for it). ")
              + "Dotted: chance; guessing by the class mix scores macro-F1 1/3 whatever the mix. Dashed "
              "(when present): the mean of the random-acquisition runs, the baseline a strategy must beat."),
        _img(plots.f1_curves(metrics, "round_index", "round", ranges), "macro-F1 per round"),
        "<h2>Macro-F1 against accepted labels</h2>",
        _note("x = the LLM labels the round's model trained on (its training labels beyond round 0's)."),
        _img(plots.f1_curves(metrics, "accepted_labels_trained_on", "accepted LLM labels trained on", ranges),
             "macro-F1 against accepted labels"),
    ]
    if data.learning is not None and not data.learning.empty:
        splits = data.learning["split_seed"].nunique()
        parts += ["<h2>Learning curves against the ceiling</h2>",
                  _note(f"Experiment runs on {splits} pool/test split(s). The ceiling is the same model trained on "
                        "every labelled pair of its split's pool half (what no strategy can beat by asking about "
                        "the pool); the floor is round 0. Right: each run's OOD as a share of its own split's gain "
                        "from floor to ceiling, so splits with different ceilings are comparable. Figures: "
                        "marts.fct_experiment_runs and rpt_experiment_summary."),
                  _img(plots.ceiling_curves(data.learning), "OOD macro-F1 against labels, with the ceiling")]
    parts += model_choice_section(data.model_choices, table, _img, _note)
    spent = float(metrics["cost_usd"].fillna(0).sum())
    parts.append("<h2>Macro-F1 against spend</h2>")
    if spent > 0:
        parts += [_note("x = annotator spend (USD) before the round's own annotation: what that round's model cost."),
                  _img(plots.f1_curves(metrics, "spend_before_round_usd", "spend before the round (USD)", ranges),
                       "macro-F1 against spend")]
    else:
        parts.append(_omitted("these runs spent nothing (replayed or simulated annotations cost $0), so "
                              "curves against spend would be vertical lines."))
    parts += ["<h2>Per-class F1</h2>",
              _note(f"Every ID panel on {ranges['id_per_class'].text()}, every OOD panel on {ranges['ood_per_class'].text()}."),
              _img(plots.per_class_f1(metrics, ranges), "per-class F1")]
    parts += _confusion_section(data)
    parts += ["<h2>Accepted labels and cost per accepted label</h2>"]
    annotated = metrics[metrics["n_annotated_pairs"].fillna(0) > 0]
    if annotated.empty:
        parts.append(_omitted("no round annotated any pair."))
    else:
        parts.append(_img(plots.bars_per_round(annotated, "n_accepted_pairs", "LLM labels accepted per round "
                                                 "(mean ± sd over a strategy's runs)", "labels"), "accepted per round"))
        costs = data.costs.merge(data.runs[["run_id", "strategy"]], on="run_id", how="left") if not data.costs.empty else data.costs
        if not costs.empty and float(costs["cost_usd"].fillna(0).sum()) > 0:
            parts.append(_img(plots.bars_per_round(costs.dropna(subset=["cost_per_accepted_label_usd"]),
                                                     "cost_per_accepted_label_usd", "Cost per accepted label (USD)",
                                                     "USD / label"), "cost per accepted label"))
        else:
            parts.append(_omitted("cost per accepted label: the annotator was free in these runs ($0 per label)."))
        if not costs.empty and costs["latency_p50_ms"].notna().any():
            parts.append(table(data.costs, {
                "run_id": "run", "round_index": "round", "n_calls": "calls", "n_invalid_calls": "invalid",
                "n_retries": "retries", "tokens_in": "tokens in", "tokens_out": "tokens out", "cost_usd": "cost $",
                "latency_p50_ms": "p50 ms", "latency_p90_ms": "p90 ms", "n_accepted_labels": "accepted",
                "cost_per_accepted_label_usd": "$ / label"}, digits=4))
        else:
            parts.append(_omitted("call latency: replayed annotations make no calls, so there is none to show."))
    diversity = metrics["diversity"].dropna()
    parts.append("<h2>Diversity of the training set</h2>")
    if diversity.empty:
        parts.append(_omitted("no diversity measured."))
    elif float(diversity.max() - diversity.min()) < 0.005:
        parts.append(_omitted(f"diversity stays within {diversity.min():.4f}–{diversity.max():.4f} in every run: "
                              "a change below 0.005 is noise of the subsample, not a signal."))
    else:
        parts.append(_img(plots.diversity_curves(metrics, ranges), "diversity"))
    parts += ["<h2>Example pairs</h2>"]
    if data.examples.empty:
        parts.append(_omitted("no annotated pairs."))
    else:
        parts += [_note("From the last annotated round of each run: the most uncertain pairs the K votes accepted "
                        "(unanimous) and did not. Reasons are the model's own one-sentence reasons (replayed "
                        "judgements carry none)."), _examples_table(data.examples)]
    if not data.agreement.empty:
        parts += ["<h2>Annotator agreement</h2>",
                  _note("Unanimity = all K votes valid and equal (the acceptance rule); accuracy against the "
                        "reference label where one exists (replay: the human majority; simulated: the known label)."),
                  table(data.agreement, {"run_id": "run", "round_index": "round", "n_pairs": "pairs",
                                         "unanimity_rate": "unanimity", "fleiss_kappa": "Fleiss κ",
                                         "unanimity_accuracy": "acc. unanimous", "majority_accuracy": "acc. majority",
                                         "n_invalid_calls": "invalid votes"})]
    parts += ["<h2>Run configuration</h2>", _configuration(data.runs)]
    parts += _quarantine_section(data)
    return "\n".join(parts + ["</body></html>"])


def _confusion_section(data: ReportData) -> list[str]:
    parts = ["<h2>Confusion matrices</h2>"]
    if data.confusion.empty:
        return parts + [_omitted("no confusion counts stored for these runs (rounds evaluated before "
                                 "evaluation stored them; `karl build` after a new run fills rpt_confusion).")]
    strategies = data.runs.set_index("run_id")["strategy"]
    confusion = data.confusion.assign(strategy=data.confusion["run_id"].map(strategies))
    last_model = confusion[confusion["matrix"].isin(["id", "ood"])]
    last_model = last_model[last_model["round_index"] == last_model.groupby("run_id")["round_index"].transform("max")]
    panels = []
    for strategy, group in last_model.groupby("strategy"):
        runs = group["run_id"].nunique()
        for matrix in ("id", "ood"):
            cells = group[group["matrix"] == matrix]
            if not cells.empty:
                panels.append((f"{matrix.upper()} · {strategy} ({runs} run{'s' if runs > 1 else ''})", cells))
    annotator = confusion[confusion["matrix"] == "annotator"]
    if not annotator.empty:
        panels.append((f"annotator vs reference (all rounds, {annotator['run_id'].nunique()} runs)", annotator))
    else:
        parts.append(_omitted("annotator vs reference: these runs' pairs have no reference label."))
    for start in range(0, len(panels), 3):
        parts.append(_img(plots.confusion_grid(panels[start:start + 3]), "confusion matrices"))
    return [parts[0], _note("Last evaluated round of each run, counts summed over a strategy's runs; colour = "
                            "share of the reference row (recall). Annotator: the majority of the K votes "
                            "(no_majority when none)."), *parts[1:]]


def _quarantine_section(data: ReportData) -> list[str]:
    parts = ["<h2>Quarantine</h2>"]
    if data.quarantine.empty:
        return parts + [_note("No ingested row was quarantined.")]
    return parts + [_note("Rows that failed validation at ingest, per source and reason (raw.quarantine keeps "
                          "each row as read)."),
                    table(data.quarantine, {"source": "source", "kind": "reason", "n_rows": "rows",
                                            "n_batches": "batches", "last_seen": "last seen"})]


def write_report(con: duckdb.DuckDBPyConnection, out_dir: Path | str, run_ids: list[str] | None = None,
                 title: str = "karl report", gx_docs: str | None = None) -> Path:
    """Write `<out_dir>/karl_report.html` for the given runs (all runs when none given)."""
    out = Path(out_dir)
    require_marts(con, "rpt_round_metrics")
    out.mkdir(parents=True, exist_ok=True)
    path = out / REPORT_FILE
    path.write_text(render_html(load_report_data(con, run_ids, gx_docs), title), encoding="utf-8")
    return path
