"""The KARL loop end to end on the real FBL data, through the warehouse: replay rounds, the
consensus rule on every accepted label, kill -9 and resume, and the one-owner lock."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from loop_fixtures import run_quietly as _run

from python_jobs import warehouse
from python_jobs.config import RunConfig
from python_jobs.loop.runner import Orchestrator

SMALL = dict(members=4, tuning_trials=3, budget=30, workers=1)



@pytest.mark.slow
def test_two_replay_rounds_hold_the_consensus_rule(fbl_warehouse: Path) -> None:
    config = RunConfig(strategy="margin", rounds=2, annotator="replay", seed=1, run_id="e2e-margin", **SMALL)
    _run(fbl_warehouse, config)
    con = duckdb.connect(str(fbl_warehouse), read_only=True)

    metrics = con.execute(
        "select round_index, id_macro_f1, ood_macro_f1, n_annotated_pairs, n_accepted_pairs "
        "from marts.fct_round_metrics where run_id = 'e2e-margin' order by round_index").fetchall()
    assert [m[0] for m in metrics] == [0, 1, 2]
    assert all(0.5 < m[1] < 1 and 0.2 < m[2] < 1 for m in metrics)
    assert metrics[0][3] > 0 and metrics[2][3] == 0

    accepted = con.execute("""
        select c.pair_key, c.round_index, c.relation_label
        from marts.fct_consensus_labels as c
        where c.run_id = 'e2e-margin' and c.is_accepted
    """).fetchall()
    assert accepted, "replay of real judgements should accept some unanimous pairs"
    votes = con.execute("""
        select pair_key, round_index, count(*), count(*) filter (where is_valid),
            count(distinct relation_label), min(relation_label)
        from raw.llm_calls where run_id = 'e2e-margin'
        group by pair_key, round_index
    """).fetchall()
    by_pair = {(v[0], v[1]): v[2:] for v in votes}
    for pair_key, round_index, label in accepted:
        calls, valid, distinct, only_label = by_pair[(pair_key, round_index)]
        assert (calls, valid, distinct, only_label) == (3, 3, 1, label)
    unanimous = sum(1 for v in by_pair.values() if v[0] == 3 and v[1] == 3 and v[2] == 1)
    assert unanimous == len(accepted), "every unanimous pair, and only those, is accepted"

    in_training = con.execute("""
        select count(*) from marts.fct_training_labels
        where label_source = 'llm' and run_id = 'e2e-margin'
    """).fetchone()[0]
    assert in_training == len(accepted)
    leaked = con.execute("""
        select count(*) from marts.fct_training_labels as t
        inner join marts.fct_eval_sets as e on e.pair_key = t.pair_key and e.eval_set = 'test'
    """).fetchone()[0]
    assert leaked == 0
    unbalanced = con.execute("""
        select count(*) from (
            select run_id, round_index, member_index from raw.bag_members
            group by all having min(n_samples) <> max(n_samples)
        )
    """).fetchone()[0]
    assert unbalanced == 0
    grown = con.execute(
        "select n_training_labels from marts.fct_round_metrics where run_id = 'e2e-margin' order by round_index"
    ).fetchall()
    assert grown[-1][0] == grown[0][0] + len(accepted)


KILLER = textwrap.dedent("""
    import os, signal, sys
    from python_jobs import warehouse
    from python_jobs.annotation import call_log
    def main():
        target_step, after = sys.argv[1], int(sys.argv[2])
        seen = {"n": 0}

        def count_then_die():
            seen["n"] += 1
            if seen["n"] == after:
                os.kill(os.getpid(), signal.SIGKILL)

        if target_step == "annotate":
            # Die after `after` calls have landed, part-way through the round's calls.
            record = call_log.DuckDBCallSink.record
            def dying_record_many(self, calls):
                for call in calls:
                    record(self, call)
                    count_then_die()
            call_log.DuckDBCallSink.record_many = dying_record_many
        else:
            run_dbt = warehouse.run_dbt
            def dying_run_dbt(args, *a, **k):
                if "source:karl.llm_calls+,+fct_training_labels" in args:
                    count_then_die()
                return run_dbt(args, *a, **k)
            warehouse.run_dbt = dying_run_dbt

        from python_jobs.cli import app
        app(sys.argv[3:])


    # The ID cross-validation's worker processes are spawned: they import this file again.
    if __name__ == "__main__":
        main()
""")


def _karl(args: list[str], env: dict[str, str], killer: Path | None = None, kill_at: tuple[str, int] | None = None):
    command = [sys.executable, str(killer), kill_at[0], str(kill_at[1])] if killer else [sys.executable, "-m", "python_jobs.cli"]
    return subprocess.run(command + args, env=env, capture_output=True, text=True, timeout=900)


KILLED_RUN = ["--strategy", "qbc", "--seed", "2", "--members", "3", "--tuning-trials", "2", "--budget", "25",
              "--workers", "1"]


def _run_outcome(db: Path, run_id: str) -> dict[str, list]:
    """What a run leaves: its calls, accepted labels and round figures, comparable across warehouses."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        calls = con.execute("""
            select list(pair_key || '#' || attempt_index || '=' || coalesce(relation_label, '-')
                        order by pair_key, attempt_index)
            from raw.llm_calls where run_id = ?""", [run_id]).fetchone()[0]
        accepted = con.execute("""
            select list(pair_key || '=' || relation_label order by pair_key)
            from marts.fct_consensus_labels where is_accepted and run_id = ?""", [run_id]).fetchone()[0]
        metrics = con.execute("""
            select list([round_index, id_macro_f1, ood_macro_f1] order by round_index)
            from marts.fct_round_metrics where run_id = ?""", [run_id]).fetchone()[0]
    finally:
        con.close()
    return {"calls": calls, "accepted": accepted, "metrics": metrics}


@pytest.fixture(scope="module")
def uninterrupted_runs(fbl_warehouse_template: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The uninterrupted run of KILLED_RUN for a number of rounds, run once per module and shared
    by every kill point of that length (a run is deterministic in its config)."""
    outcomes: dict[int, dict[str, list]] = {}

    def outcome(rounds: int) -> dict[str, list]:
        if rounds not in outcomes:
            folder = tmp_path_factory.mktemp(f"uninterrupted_{rounds}")
            db = folder / "karl.duckdb"
            shutil.copyfile(fbl_warehouse_template, db)
            env = {**os.environ, "KARL_DUCKDB_PATH": str(db), "KARL_DBT_TARGET_PATH": str(folder / "target")}
            clean = _karl(["run", *KILLED_RUN, "--rounds", str(rounds), "--run-id", "clean"], env)
            assert clean.returncode == 0, clean.stderr[-2000:]
            outcomes[rounds] = _run_outcome(db, "clean")
        return outcomes[rounds]

    return outcome


# ("build", 2) dies in round 1's build: the resumed process has no round-0 fits in memory and
# refits them for the warm starts, which must change nothing.
@pytest.mark.slow
@pytest.mark.parametrize(("kill_at", "rounds"), [(("annotate", 40), 1), (("build", 1), 1), (("build", 2), 2)])
def test_kill_9_then_resume_redoes_nothing_and_loses_nothing(fbl_warehouse: Path, tmp_path: Path, kill_at,
                                                             rounds: int, uninterrupted_runs) -> None:
    env = {**os.environ, "KARL_DUCKDB_PATH": str(fbl_warehouse), "KARL_DBT_TARGET_PATH": str(tmp_path / "target")}
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)

    killed = _karl(["run", *KILLED_RUN, "--rounds", str(rounds), "--run-id", "killed"], env, killer, kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    con = duckdb.connect(str(fbl_warehouse), read_only=True)
    calls_before = con.execute("select count(*) from raw.llm_calls where run_id = 'killed'").fetchone()[0]
    con.close()
    assert calls_before >= (40 if kill_at[0] == "annotate" else 1)

    resumed = _karl(["run", "--resume", "killed"], env)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]

    killed_outcome, clean = _run_outcome(fbl_warehouse, "killed"), uninterrupted_runs(rounds)
    assert killed_outcome["calls"] == clean["calls"], "the resumed run made exactly the calls of an uninterrupted one"
    assert killed_outcome["accepted"] == clean["accepted"]
    assert len(killed_outcome["metrics"]) == rounds + 1
    assert killed_outcome["metrics"] == clean["metrics"], "the same models: warm starts are reproduced on resume"


def test_a_second_process_gets_an_error_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(warehouse.WarehouseLockedError) as error:
            warehouse.connect(path)
        message = str(error.value)
        assert f"process {holder.pid}" in message and "KARL_DUCKDB_PATH" in message
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    warehouse.connect(path).close()


def test_a_run_on_a_warehouse_without_labels_says_what_to_load(db_path: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from python_jobs.loop.runner import RunStopped

    monkeypatch.setenv("KARL_DBT_TARGET_PATH", str(tmp_path / "target"))
    con = warehouse.connect(db_path)
    try:
        with pytest.raises(RunStopped, match="karl ingest fbl"):
            Orchestrator(con, RunConfig(run_id="nothing-to-learn", workers=1), show_progress=False, log=lambda _: None).run()
        assert con.execute("select count(*) from raw.runs").fetchone()[0] == 0
    finally:
        con.close()
