"""The aggregation rules a run can name: one name per algorithm, and a run recorded under the old
name of the one-step Dawid-Skene rule reads back as the rule it ran."""

from __future__ import annotations

import json

import pytest

from python_jobs.config import AGGREGATIONS, RunConfig


def test_runs_choose_the_one_step_rule_by_its_own_name() -> None:
    assert AGGREGATIONS == ("unanimity", "majority", "one_step_dawid_skene")
    with pytest.raises(ValueError, match="aggregation"):
        RunConfig(aggregation="dawid_skene")


def test_a_run_recorded_as_dawid_skene_resumes_as_one_step_dawid_skene() -> None:
    recorded = json.loads(RunConfig(run_id="old", aggregation="majority").to_json())
    recorded["aggregation"] = "dawid_skene"
    assert RunConfig.from_json(json.dumps(recorded)).aggregation == "one_step_dawid_skene"
