"""A run's per-round stopping signals, read from raw tables, and the verdict of a rule of
`rules.py` on them (`karl run --until-stable --stop-rule NAME`, the stopping-rule table of
docs/strategies.md)."""

from __future__ import annotations

import json

import duckdb
import numpy as np

from python_jobs.loop.stopping.rules import RunSignals, stop_round


def load_run_signals(con: duckdb.DuckDBPyConnection, run_id: str) -> RunSignals:
    """Signals of rounds 0..last evaluated round (raw.round_metrics); pool predictions aligned by
    pair key (the same fixed hash sample every round)."""
    metrics = con.execute(
        "select round_index, metrics_json from raw.round_metrics where run_id = ? order by round_index", [run_id]
    ).fetchall()
    n_rounds = (max(r for r, _ in metrics) + 1) if metrics else 0
    ood: list[float | None] = [None] * n_rounds
    for round_index, text in metrics:
        ood[round_index] = json.loads(text).get("ood_macro_f1")
    predictions: list[np.ndarray | None] = [None] * n_rounds
    rows = con.execute(
        "select round_index, list(predicted_class order by pair_key) from raw.pool_predictions "
        "where run_id = ? group by round_index", [run_id]).fetchall()
    for round_index, classes in rows:
        if round_index < n_rounds:
            predictions[round_index] = np.asarray(classes, dtype=object)
    uncertainty: list[float | None] = [None] * n_rounds
    for name, text in con.execute(
            "select name, value_json from raw.run_artifacts where run_id = ? and name like 'pool_uncertainty@%'",
            [run_id]).fetchall():
        round_index = int(name.split("@")[1])
        if round_index < n_rounds:
            uncertainty[round_index] = json.loads(text)["mean_margin_uncertainty"]
    return RunSignals(predictions, uncertainty, ood)


def should_stop_by_rule(con: duckdb.DuckDBPyConnection, run_id: str, rule: str, round_index: int) -> tuple[bool, str]:
    """(stop after `round_index`?, why) by a rule of rules.py."""
    signals = load_run_signals(con, run_id)
    at = stop_round(rule, signals)
    if at is not None and at <= round_index:
        return True, f"stop rule {rule} fired at round {at}"
    return False, f"stop rule {rule}: not yet"
