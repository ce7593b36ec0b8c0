"""A second pool/test split (KARL_SPLIT_SEED): a run records the split it is evaluated on, and a
resume on a warehouse holding another split stops with a message instead of mixing test sets."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from loop_fixtures import run_quietly as _run

from python_jobs import warehouse
from python_jobs.config import RunConfig
from python_jobs.loop.runner import Orchestrator, SplitChangedError

pytestmark = pytest.mark.slow  # every test here runs the loop

SMALL = dict(members=3, tuning_trials=2, budget=10, workers=1)



def _test_half(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {r[0] for r in con.execute("select pair_key from marts.fct_eval_sets where eval_set = 'test'").fetchall()}


def test_a_run_on_a_second_split_is_evaluated_on_that_split_and_records_it(
        fbl_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default_test_half = _test_half(fbl_warehouse)
    monkeypatch.setenv("KARL_SPLIT_SEED", "7")
    _run(fbl_warehouse, RunConfig(strategy="margin", rounds=1, annotator="replay", run_id="split7", **SMALL))

    second_test_half = _test_half(fbl_warehouse)
    assert second_test_half and second_test_half != default_test_half
    with duckdb.connect(str(fbl_warehouse), read_only=True) as con:
        recorded = con.execute(
            "select json_extract(value_json, '$.split_seed')::int, json_extract(value_json, '$.n_test')::int "
            "from raw.run_artifacts where run_id = 'split7' and name = 'eval_split'").fetchone()
        seeds = con.execute("select distinct split_seed from marts.fct_eval_sets").fetchall()
    assert seeds == [(7,)], "every build of the run kept the second split"
    assert recorded[0] == 7 and recorded[1] > 0


def test_resuming_on_another_split_stops_with_a_message(fbl_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = RunConfig(strategy="random", rounds=1, annotator="replay", run_id="split-resume", **SMALL)
    _run(fbl_warehouse, config)
    monkeypatch.setenv("KARL_SPLIT_SEED", "7")
    con = warehouse.connect(fbl_warehouse)
    try:
        resumed = Orchestrator(con, config, show_progress=False, log=lambda _: None)
        with pytest.raises(SplitChangedError, match="KARL_SPLIT_SEED=42"):
            resumed.prepare()
    finally:
        con.close()
