"""The issue-12 tables: stopping rules judged against the best round, panels per aggregation rule."""

import numpy as np
import pandas as pd

from python_jobs.reporting import strategy_tables


def test_stopping_table_averages_stop_round_ood_there_and_shortfall_from_the_best_round():
    frame = pd.DataFrame([
        {"run_id": "a", "strategy": "margin", "rule": "pool_change", "fired": True, "stop_round": 3,
         "ood_at_stop": 0.42, "best_round": 10, "best_ood": 0.46, "ood_round0": 0.40, "last_round": 20},
        {"run_id": "b", "strategy": "margin", "rule": "pool_change", "fired": False, "stop_round": 20,
         "ood_at_stop": 0.44, "best_round": 12, "best_ood": 0.45, "ood_round0": 0.41, "last_round": 20},
    ])
    row = strategy_tables.stopping_table(frame).iloc[0]
    assert row["rule"] == "pool_change" and row["runs"] == 2 and row["fired"] == 1
    assert row["mean_stop_round"] == 11.5
    assert np.isclose(row["mean_shortfall"], (0.04 + 0.01) / 2)
    assert np.isclose(row["mean_ood_gain_at_stop"], (0.02 + 0.03) / 2)


def test_panel_table_has_every_panel_and_rule_and_unanimity_never_yields_more_than_majority():
    keys = [f"k{i}" for i in range(600)]
    truths = list(np.random.default_rng(0).choice(["substitute", "complement", "other"], size=600))
    table = strategy_tables.panel_table(keys, truths)
    assert len(table) == len(strategy_tables.PANELS) * 3
    for _, group in table.groupby("panel"):
        by_rule = group.set_index("aggregation")
        assert by_rule.loc["unanimity", "yield"] <= by_rule.loc["majority", "yield"]
        assert by_rule.loc["unanimity", "precision"] >= by_rule.loc["majority", "precision"]


def test_markdown_renders_floats_and_leaves_nan_cells_empty():
    text = strategy_tables.markdown(pd.DataFrame([{"a": "x", "b": 0.12345, "c": float("nan")}]))
    assert text.splitlines() == ["| a | b | c |", "|---|---|---|", "| x | 0.123 |  |"]
