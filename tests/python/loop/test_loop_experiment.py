"""`karl experiment` end to end on the real FBL data: one run per (strategy, seed) cell in one
warehouse, the RQ summary in the marts, one candidate-pool build per seed, and a re-run that
resumes (skips) the completed cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from python_jobs import warehouse
from python_jobs.config import RunConfig
from python_jobs.loop import builds, steps
from python_jobs.loop.experiment import ExperimentConfig, run_experiment
from python_jobs.loop.pool import CandidatePoolMemo
from python_jobs.loop.runner import Orchestrator

pytestmark = pytest.mark.slow  # every test here runs the loop


def _count_builds(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record every dbt command the experiment runs (they still run)."""
    commands: list[list[str]] = []
    real = warehouse.run_dbt

    def recording(args: list[str], *rest, **options):  # noqa: ANN002, ANN003, ANN202
        commands.append(list(args))
        return real(args, *rest, **options)

    monkeypatch.setattr(warehouse, "run_dbt", recording)
    return commands


def test_experiment_runs_every_cell_summarises_and_resumes(fbl_warehouse: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    commands = _count_builds(monkeypatch)
    config = ExperimentConfig(
        experiment_id="exp-test", strategies=("random", "margin"), seeds=(0, 1),
        cell=RunConfig(rounds=1, members=3, tuning_trials=2, budget=20, workers=1, run_id="template"),
    )
    con = warehouse.connect(fbl_warehouse)
    try:
        run_experiment(con, config, log=lambda _: None, show_progress=False)
        runs = con.execute(
            "select run_id, strategy, seed from raw.runs where run_id like 'exp-test-%' order by run_id").fetchall()
        assert runs == [("exp-test-margin-s0", "margin", 0), ("exp-test-margin-s1", "margin", 1),
                        ("exp-test-random-s0", "random", 0), ("exp-test-random-s1", "random", 1)]
        rounds = con.execute(
            "select run_id, count(*) from marts.fct_round_metrics where run_id like 'exp-test-%' group by 1").fetchall()
        assert sorted(n for _, n in rounds) == [2, 2, 2, 2]
        summary = con.execute(
            "select strategy, n_runs, n_rounds from marts.rpt_experiment_summary "
            "where experiment_id = 'exp-test' order by strategy").fetchall()
        assert summary == [("margin", 2, 1), ("random", 2, 1)]

        candidate_builds = [c for c in commands if c == builds.CANDIDATE_BUILD_ARGS]
        # Cells run seed by seed; the two cells of a seed share its pool (the seed's induced categories).
        assert len(candidate_builds) == 2
        # The cells do not close with a build each: the experiment builds the marts once.
        assert [c for c in commands if c == builds.RUN_BUILD_ARGS] == [builds.RUN_BUILD_ARGS]

        steps_before = con.execute("select count(*) from raw.run_steps").fetchall()[0][0]
        commands.clear()
        run_experiment(con, config, log=lambda _: None, show_progress=False)
        assert con.execute("select count(*) from raw.run_steps").fetchall()[0][0] == steps_before
        assert builds.CANDIDATE_BUILD_ARGS not in commands
    finally:
        con.close()


def test_candidate_pool_is_rebuilt_when_it_changed_since_this_process_built_it(fbl_warehouse: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    commands = _count_builds(monkeypatch)
    cell = RunConfig(rounds=0, members=3, tuning_trials=2, workers=1, seed=3, run_id="pool-a")
    con = warehouse.connect(fbl_warehouse)
    try:
        memo = CandidatePoolMemo()
        Orchestrator(con, cell, show_progress=False, log=lambda _: None, pool_memo=memo).run()
        pool_a = con.execute("select count(*), min(category_set) from marts.fct_candidate_pairs").fetchall()
        # Something else in the warehouse changes the pool after this process built it ...
        con.execute("delete from marts.fct_candidate_pairs where pair_key in "
                    "(select pair_key from marts.fct_candidate_pairs limit 5)")
        commands.clear()
        cell_b = RunConfig(rounds=0, members=3, tuning_trials=2, workers=1, seed=3, run_id="pool-b")
        Orchestrator(con, cell_b, show_progress=False, log=lambda _: None, pool_memo=memo).run()
        # ... so the next run with the same vars rebuilds it instead of trusting its memo.
        assert builds.CANDIDATE_BUILD_ARGS in commands
        assert con.execute("select count(*), min(category_set) from marts.fct_candidate_pairs").fetchall() == pool_a
    finally:
        con.close()


def test_a_failing_cell_stops_the_experiment_with_its_error_and_the_done_cells_reach_the_marts(
        fbl_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_annotate = steps.ROUND_STEPS["annotate"]

    def annotate(run, round_index: int, state) -> None:  # noqa: ANN001
        if run.config.seed == 1:
            raise steps.RunStopped("the annotator went away")
        real_annotate(run, round_index, state)

    monkeypatch.setitem(steps.ROUND_STEPS, "annotate", annotate)
    config = ExperimentConfig(
        experiment_id="exp-fail", strategies=("margin",), seeds=(0, 1),
        cell=RunConfig(rounds=1, members=3, tuning_trials=2, budget=20, workers=1, run_id="template"),
    )
    con = warehouse.connect(fbl_warehouse)
    try:
        with pytest.raises(steps.RunStopped, match="the annotator went away"):
            run_experiment(con, config, log=lambda _: None, show_progress=False)
        rounds = con.execute("select run_id, count(*) from marts.fct_round_metrics "
                             "where run_id like 'exp-fail-%' group by 1").fetchall()
        assert rounds == [("exp-fail-margin-s0", 2)]
    finally:
        con.close()
