"""The Dagster definitions (python_jobs/orchestration/): the nightly schedule skips once the stopping
signal says stop; and (slow) the graph materialised in process, twice, on a copy of the built FBL
warehouse: ingest -> dbt -> one replay round -> dbt -> karl predict -> dbt. The second night
continues the same run (round 1 after round 0) and every dbt test passes as an asset check. The
dagster extra is installed by `make test`: a missing dagster fails here."""

from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    build_schedule_context,
    materialize,
)

from python_jobs.orchestration.definitions import NIGHTLY_RUN_ID, KarlSources, NightlyRun, build_definitions

TINY_ROUND = {"annotator": "replay", "members": 3, "tuning_trials": 2, "budget": 10, "workers": 1,
              "max_cost_usd": 5.0}


def _night(defs, instance: DagsterInstance):  # noqa: ANN001, ANN202 - Definitions, ExecuteInProcessResult
    everything_but_the_report = AssetSelection.all() - AssetSelection.keys(AssetKey(["karl_report"]))
    result = materialize(list(defs.assets), selection=everything_but_the_report, resources=defs.resources,
                         run_config={"ops": {"karl_round": {"config": TINY_ROUND}}}, instance=instance)
    assert result.success
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations()
              if not e.passed and e.severity == AssetCheckSeverity.ERROR]
    assert result.get_asset_check_evaluations(), "the dbt tests should run as asset checks"
    assert not failed, failed
    return result


def _llm_calls_metadata(result) -> dict:  # noqa: ANN001 - ExecuteInProcessResult
    """The round's figures: the metadata of its materialisation of karl/llm_calls."""
    (materialization,) = [m for m in result.asset_materializations_for_node("karl_round")
                          if m.asset_key == AssetKey(["karl", "llm_calls"])]
    return materialization.metadata


def _steps(db: Path) -> set[tuple[int, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {(int(r), str(s)) for r, s in con.execute(
            "select round_index, step from raw.run_steps where run_id = ? and round_index >= 0",
            [NIGHTLY_RUN_ID]).fetchall()}


@pytest.mark.parametrize("should_stop", [True, False])
def test_the_schedule_skips_once_the_stopping_signal_says_stop(db_path: Path, should_stop: bool) -> None:
    with duckdb.connect(str(db_path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.rpt_run_stopping_signal as select ? as run_id, ? as should_stop, "
                    "'no OOD gain over 3 rounds' as stop_reason", [NIGHTLY_RUN_ID, should_stop])
    schedule = build_definitions(KarlSources()).get_schedule_def("nightly_round_schedule")
    with build_schedule_context(resources={"karl_run": NightlyRun()}) as context:
        decision = schedule.evaluate_tick(context)
    if should_stop:
        assert not decision.run_requests and "no OOD gain" in str(decision.skip_message)
    else:
        (request,) = decision.run_requests
        assert request.run_config["ops"]["karl_round"]["config"]["max_cost_usd"] == 5.0


@pytest.mark.slow
def test_two_nights_continue_one_run_with_passing_checks(fbl_warehouse: Path, fbl_dir: Path) -> None:
    defs = build_definitions(KarlSources(fbl=True, fbl_dir=str(fbl_dir)))
    instance = DagsterInstance.ephemeral()

    first = _night(defs, instance)
    assert {(0, "annotate"), (0, "build"), (1, "evaluate")} <= _steps(fbl_warehouse)
    assert (1, "annotate") not in _steps(fbl_warehouse)
    round_metadata = _llm_calls_metadata(first)
    assert round_metadata["round_annotated"].value == 0
    assert round_metadata["pairs_annotated"].value == 10
    assert round_metadata["labels_accepted"].value > 0
    assert round_metadata["ood_macro_f1"].value > 0

    second = _night(defs, instance)
    steps = _steps(fbl_warehouse)
    assert {(1, "select"), (1, "annotate"), (1, "build"), (2, "train"), (2, "evaluate")} <= steps
    assert _llm_calls_metadata(second)["round_annotated"].value == 1

    with duckdb.connect(str(fbl_warehouse), read_only=True) as con:
        assert con.execute("select count(distinct run_id) from raw.runs").fetchone()[0] == 1
        rounds = [r for (r,) in con.execute(
            "select round_index from marts.fct_round_metrics where run_id = ? order by round_index",
            [NIGHTLY_RUN_ID]).fetchall()]
        assert rounds == [0, 1, 2]
        selected = dict(con.execute("select round_index, count(*) from raw.selections where run_id = ? "
                                    "group by round_index", [NIGHTLY_RUN_ID]).fetchall())
        assert selected == {0: 10, 1: 10}
        # The pairs of round 1 are new: a round never re-selects a pair the run has annotated.
        assert con.execute("select count(distinct pair_key) from raw.selections where run_id = ?",
                           [NIGHTLY_RUN_ID]).fetchone()[0] == 20
        # One model version per night, each predicted, and the relations mart built from the latest.
        versions = [v for (v,) in con.execute("select distinct model_version from raw.pair_predictions "
                                              "order by model_version").fetchall()]
        assert [v.split(":")[1] for v in versions] == ["r01", "r02"]
        assert con.execute("select count(*) from marts.fct_pair_relations").fetchone()[0] > 0
