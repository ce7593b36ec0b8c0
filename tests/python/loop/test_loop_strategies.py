"""Issue 12 end to end on the real FBL data: the batch strategies select through the streamed
scorer and record why; a panel run's votes are aggregated by the run's rule in the marts; a
label-free stop rule ends a run early."""

from __future__ import annotations

from pathlib import Path

import pytest

from python_jobs import warehouse
from python_jobs.config import RunConfig
from python_jobs.loop.experiment import ExperimentConfig, run_experiment
from python_jobs.loop.runner import Orchestrator

pytestmark = pytest.mark.slow  # every test here runs the loop

SMALL = dict(members=3, tuning_trials=2, budget=20, workers=1)


def test_kcenter_and_context_pick_one_pair_per_category_within_budget_and_record_their_rule(fbl_warehouse: Path) -> None:
    config = ExperimentConfig(experiment_id="exp-b", strategies=("kcenter", "context"), seeds=(0,),
                              cell=RunConfig(rounds=2, run_id="template", **SMALL))
    with warehouse.connection(fbl_warehouse) as con:
        run_experiment(con, config, log=lambda _: None, show_progress=False)
        for run_id in ("exp-b-kcenter-s0", "exp-b-context-s0"):
            picks = con.execute("select round_index, count(*), count(distinct fine_category) from raw.selections "
                                "where run_id = ? group by 1 order by 1", [run_id]).fetchall()
            assert [r for r, _, _ in picks] == [0, 1]
            assert all(0 < n <= 20 and n == categories for _, n, categories in picks)
        weights = dict(con.execute(
            "select name, cast(json_extract(value_json, '$.novelty_weight') as double) from raw.run_artifacts "
            "where run_id = 'exp-b-context-s0' and name like 'strategy@%'").fetchall())
        assert weights["strategy@000"] == 0.5
        assert 0.2 <= weights["strategy@001"] <= 0.8
        assert con.execute("select count(*) from raw.run_artifacts where run_id = 'exp-b-kcenter-s0' "
                           "and name like 'pool_uncertainty@%'").fetchone()[0] == 2
        strategies = con.execute("select strategy from marts.rpt_experiment_summary where experiment_id = 'exp-b' "
                                 "order by 1").fetchall()
        assert strategies == [("context",), ("kcenter",)]


def test_a_majority_panel_run_accepts_two_of_three_and_records_voters_and_rule(fbl_warehouse: Path) -> None:
    config = RunConfig(rounds=1, annotator="panel", aggregation="majority", run_id="panel-majority", **SMALL)
    with warehouse.connection(fbl_warehouse) as con:
        Orchestrator(con, config, show_progress=False, log=lambda _: None).run()
        rows = con.execute("select aggregation, is_accepted, n_modal_votes from marts.fct_consensus_labels "
                           "where run_id = 'panel-majority'").fetchall()
        assert rows and {r[0] for r in rows} == {"majority"}
        assert all(accepted == (votes >= 2) for _, accepted, votes in rows)
        assert any(votes == 2 and accepted for _, accepted, votes in rows)  # a 2-of-3 label unanimity would refuse
        models = {r[0] for r in con.execute("select distinct model from raw.llm_calls where run_id = 'panel-majority'").fetchall()}
        assert models == {"panel:near_human", "panel:overcalls_other", "panel:overcalls_substitute"}


def test_until_stable_with_a_label_free_rule_stops_when_the_rule_fires(fbl_warehouse: Path) -> None:
    # pool_change with a threshold every round meets (share changed < 1.01) fires at round 1.
    config = RunConfig(rounds=4, until_stable=True, stop_rule="pool_change", run_id="stop-early", **SMALL)
    logs: list[str] = []
    from python_jobs.loop.stopping import rules

    original = rules.RULES["pool_change"]
    rules.RULES["pool_change"] = lambda signals: original(signals, max_changed_share=1.01)
    try:
        with warehouse.connection(fbl_warehouse) as con:
            Orchestrator(con, config, show_progress=False, log=logs.append).run()
            evaluated = con.execute("select max(round_index) from raw.round_metrics where run_id = 'stop-early'").fetchone()[0]
    finally:
        rules.RULES["pool_change"] = original
    assert evaluated == 1
    assert any("pool_change fired at round 1" in line for line in logs)
