"""A run that `--until-stable` stops early records the model of the round it stopped after, and
`karl predict` scores with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from python_jobs import warehouse
from python_jobs.config import RunConfig
from python_jobs.loop.runner import Orchestrator
from python_jobs.prediction.predict import predict

pytestmark = pytest.mark.slow


def test_an_early_stopped_run_records_its_last_model(fbl_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import python_jobs.loop.stopping.rules as rules

    original = rules.RULES["pool_change"]
    # a threshold every round meets: the rule fires after round 1
    monkeypatch.setitem(rules.RULES, "pool_change", lambda signals: original(signals, max_changed_share=1.01))
    config = RunConfig(rounds=4, until_stable=True, stop_rule="pool_change", run_id="stop-early", members=4,
                       tuning_trials=3, budget=20, workers=1)
    with warehouse.connection(fbl_warehouse) as con:
        Orchestrator(con, config, show_progress=False, log=lambda _: None).run()
        versions = con.execute("select round_index from raw.model_versions where run_id = 'stop-early'").fetchall()
        summary = predict(con)
    assert versions == [(1,)]
    assert summary.model_version.startswith("stop-early:r01:") and summary.n_written == summary.n_candidates > 0
