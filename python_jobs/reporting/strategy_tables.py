"""The issue-12 tables from a warehouse: stopping rules (per rule: the round it stops at, the OOD
macro-F1 there, next to the best round) and annotator panels (yield and precision against the
replayed human label, per panel and aggregation rule; OOD gain of panel runs)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from python_jobs.annotation import panels
from python_jobs.config import LEGACY_AGGREGATIONS
from python_jobs.loop.stopping import STOP_RULES, load_run_signals, stop_round


def experiment_run_ids(con: duckdb.DuckDBPyConnection, experiment_id: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(
        "select run_id, strategy from raw.runs where json_extract_string(config_json, '$.experiment_id') = ? "
        "order by run_id", [experiment_id]).fetchall()]


def stopping_rows(con: duckdb.DuckDBPyConnection, runs: Sequence[tuple[str, str]],
                  rules: Sequence[str] = STOP_RULES) -> pd.DataFrame:
    """One row per (run, rule): stop round (the last round when the rule never fires), OOD
    macro-F1 there, the run's best OOD round and value."""
    rows = []
    for run_id, strategy in runs:
        signals = load_run_signals(con, run_id)
        ood = np.asarray([np.nan if v is None else v for v in signals.ood_f1], dtype=np.float64)
        if not len(ood) or np.isnan(ood).all():
            continue
        last = len(ood) - 1
        best = int(np.nanargmax(ood))
        for rule in rules:
            at = stop_round(rule, signals)
            fired = at is not None
            at = last if at is None else min(at, last)
            rows.append({"run_id": run_id, "strategy": strategy, "rule": rule, "fired": fired, "stop_round": at,
                         "ood_at_stop": ood[at], "best_round": best, "best_ood": ood[best],
                         "ood_round0": ood[0], "last_round": last})
    return pd.DataFrame(rows)


def stopping_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per rule, over runs: how often it fired, mean stop round, mean OOD at the stop, mean best
    round and best OOD, and the mean shortfall (best - at stop)."""
    if frame.empty:
        return frame
    frame = frame.assign(shortfall=frame["best_ood"] - frame["ood_at_stop"],
                         gain_at_stop=frame["ood_at_stop"] - frame["ood_round0"])
    return frame.groupby("rule", sort=False).agg(
        runs=("run_id", "count"), fired=("fired", "sum"), mean_stop_round=("stop_round", "mean"),
        mean_ood_at_stop=("ood_at_stop", "mean"), mean_ood_gain_at_stop=("gain_at_stop", "mean"),
        mean_best_round=("best_round", "mean"), mean_best_ood=("best_ood", "mean"),
        mean_shortfall=("shortfall", "mean")).reset_index()


def pool_reference(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    """(pair keys, human majority label) of the FBL2024 candidate pool: what replay annotates."""
    from python_jobs.loop import data as loop_data

    reference = loop_data.reference_labels(con)
    pool = {r[0] for r in con.execute("select pair_key from marts.fct_candidate_pairs").fetchall()}
    keys = sorted(k for k in reference if k in pool)
    return keys, [reference[k] for k in keys]


PANELS: dict[str, tuple[str, ...]] = {
    "3 x near_human": ("near_human",) * 3,
    "heterogeneous (near_human, overcalls_other, overcalls_substitute)": panels.DEFAULT_PANEL,
    "2 x overcalls_other + near_human": ("near_human", "overcalls_other", "overcalls_other"),
}


def panel_table(pair_keys: Sequence[str], truths: Sequence[str], seed: int = 0) -> pd.DataFrame:
    """Offline: every panel answers every pool pair (seeded); yield and precision per rule."""
    rows = []
    for name, members in PANELS.items():
        votes = panels.panel_votes(truths, pair_keys, members, seed)
        for rule in panels.AGGREGATIONS:
            accepted = panels.aggregate(rule, votes)
            share, precision = panels.yield_and_precision(accepted, truths)
            rows.append({"panel": name, "aggregation": rule, "pairs": len(truths), "yield": share,
                         "precision": precision})
    return pd.DataFrame(rows)


def panel_run_rows(con: duckdb.DuckDBPyConnection, run_ids: Sequence[str]) -> pd.DataFrame:
    """Per panel run: aggregation, rounds, accepted labels' yield and precision against the human
    majority label, OOD gain at the last round and best OOD gain."""
    from python_jobs.loop import data as loop_data

    reference = loop_data.reference_labels(con)
    rows = []
    for run_id in run_ids:
        config = con.execute("select config_json from raw.runs where run_id = ?", [run_id]).fetchone()
        if config is None:
            continue
        config = json.loads(config[0])
        labels = con.execute(
            "select pair_key, is_accepted, relation_label from marts.fct_consensus_labels where run_id = ?",
            [run_id]).fetchall()
        metrics = [json.loads(m[0]).get("ood_macro_f1") for m in con.execute(
            "select metrics_json from raw.round_metrics where run_id = ? order by round_index", [run_id]).fetchall()]
        accepted = [(k, label) for k, ok, label in labels if ok]
        correct = [label == reference.get(k) for k, label in accepted if reference.get(k) is not None]
        rows.append({"run_id": run_id, "annotator": config.get("annotator"),
                     "aggregation": _aggregation(config), "rounds": len(metrics) - 1,
                     "annotated": len(labels), "yield": len(accepted) / len(labels) if labels else np.nan,
                     "precision": float(np.mean(correct)) if correct else np.nan,
                     "ood_gain_last": metrics[-1] - metrics[0] if len(metrics) > 1 else np.nan,
                     "ood_gain_best": max(metrics) - metrics[0] if metrics else np.nan})
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub table (no tabulate dependency)."""
    columns = list(frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for _, row in frame.iterrows():
        cells = []
        for value in row:
            if isinstance(value, (float, np.floating)):
                cells.append("" if np.isnan(value) else format(value, floatfmt))
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _aggregation(config: dict) -> str:
    """The run's rule under its current name (a run recorded before the rename says dawid_skene)."""
    name = config.get("aggregation", "unanimity")
    return LEGACY_AGGREGATIONS.get(name, name)
