"""Pure pieces of the report and of status-during-a-run: axis ranges, progress files, states."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


from python_jobs.reporting.plots import CHANCE_MACRO_F1, metric_range
from python_jobs.reporting.progress import ABORTED, COMPLETED, RUNNING, RunProgress, RunSnapshot, progress_dir, read_snapshots
from python_jobs.reporting.status import merge_runs


def test_a_small_change_is_drawn_on_an_axis_at_least_0_2_wide() -> None:
    axis = metric_range([0.828, 0.819])
    assert axis.high - axis.low >= 0.2 - 1e-9 and axis.low <= 0.819 and axis.high >= 0.828


def test_the_range_is_shared_and_holds_every_run_and_the_chance_line() -> None:
    axis = metric_range([0.415, 0.429, 0.61, CHANCE_MACRO_F1])
    assert axis.low <= CHANCE_MACRO_F1 and axis.high >= 0.61 and 0.0 <= axis.low and axis.high <= 1.0


def test_the_range_stays_inside_zero_and_one() -> None:
    assert metric_range([0.99, 0.995]).high == 1.0
    assert metric_range([0.0, 0.01]).low == 0.0


def test_progress_is_published_after_every_step_and_read_back(tmp_path: Path) -> None:
    db = tmp_path / "karl.duckdb"
    lines: list[str] = []
    progress = RunProgress(db, RunSnapshot("run-a", strategy="margin", rounds=2), emit=lambda line, **_: lines.append(line))
    progress.begin("set-up", "features")
    assert read_snapshots(db)[0].current == "set-up: features"  # visible while the step works
    progress.end("set-up", "features", seconds=1.5)
    progress.evaluated(0, {"id_macro_f1": 0.8, "ood_macro_f1": 0.4}, n_accepted_labels=0)
    progress.finish(COMPLETED)
    (snapshot,) = read_snapshots(db)
    assert snapshot.state == COMPLETED and snapshot.steps[0].step == "features" and snapshot.id_macro_f1 == 0.8
    assert lines[0].endswith("set-up: features …") and "done in 1.5 s" in lines[1]
    assert not list(progress_dir(db).glob("*.tmp"))  # renamed into place, never half-written


def test_a_running_file_whose_process_is_gone_reads_as_aborted(tmp_path: Path) -> None:
    db = tmp_path / "karl.duckdb"
    progress = RunProgress(db, RunSnapshot("run-killed"))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    progress.snapshot.pid = int(gone.stdout)
    progress.publish()
    (snapshot,) = read_snapshots(db)
    assert snapshot.state == RUNNING and snapshot.effective_state == ABORTED


def test_status_lists_runs_the_marts_do_not_know_yet_with_their_state(tmp_path: Path) -> None:
    mart_runs = [{"run_id": "done", "is_complete": True, "strategy": "margin"},
                 {"run_id": "cut-short", "is_complete": False, "strategy": "margin"}]
    snapshots = [RunSnapshot("cut-short", state=ABORTED, message="KeyboardInterrupt"),
                 RunSnapshot("working", state=RUNNING, current="round 1: annotate", pid=0)]
    merged = {run["run_id"]: run for run in merge_runs(mart_runs, snapshots)}
    assert merged["done"]["state"] == COMPLETED
    assert merged["cut-short"]["state"] == ABORTED and merged["cut-short"]["message"] == "KeyboardInterrupt"
    assert merged["working"]["state"] == RUNNING and merged["working"]["current"] == "round 1: annotate"


def test_snapshot_files_from_an_older_karl_are_read_leniently(tmp_path: Path) -> None:
    folder = progress_dir(tmp_path / "karl.duckdb")
    folder.mkdir()
    (folder / "old.json").write_text(json.dumps({"run_id": "old", "state": "completed", "unknown_key": 1,
                                                 "steps": []}))
    (folder / "broken.json").write_text("{")
    assert [s.run_id for s in read_snapshots(tmp_path / "karl.duckdb")] == ["old"]
