"""A full disk during ingest, build, a run's round and its closing build: one line naming the
file, the free space and the next step; the temporaries of the failed step are gone; after space
is freed the same command (or `karl run --resume`) finishes with every raw row there once - the
counts equal those of the same work done on a disk that never filled."""

from __future__ import annotations

from pathlib import Path

import pytest

from fault_tools import (
    RUN_ARGS,
    RUN_ID,
    SmallDisk,
    Started,
    assert_one_line,
    copy_into,
    current_step,
    karl,
    leftover_temporaries,
    raw_counts,
    round_metrics,
    run_state,
    watch_until,
)
from python_jobs.faults.sentences import EXIT_OS_FAULT
from python_jobs.reporting.progress import RunSnapshot

pytestmark = pytest.mark.slow
INGESTED_TABLES = ("labelled_judgements", "quarantine", "ingest_batches")


def test_disk_full_during_ingest_then_ingest_again_loads_every_row_once(
        small_disk: SmallDisk, ingested_template: Path, fbl_dir: Path, tmp_path: Path) -> None:
    db = small_disk.root / "karl.duckdb"
    small_disk.fill(leave=2_000_000)
    ran = karl(tmp_path, "ingest", "fbl", "--dir", fbl_dir, "--db", db)
    assert_one_line(ran, EXIT_OS_FAULT, "karl ingest fbl stopped: no space left", "MB free on",
                    "nothing of the interrupted batch was loaded: free space and run `karl ingest fbl` again")
    assert not leftover_temporaries(db)
    small_disk.free()
    ran = karl(tmp_path, "ingest", "fbl", "--dir", fbl_dir, "--db", db)
    assert ran.returncode == 0, ran.output[-3000:]
    expected = raw_counts(ingested_template)
    assert {t: raw_counts(db)[t] for t in INGESTED_TABLES} == {t: expected[t] for t in INGESTED_TABLES}


def test_disk_full_during_build_then_build_again_passes(
        small_disk: SmallDisk, ingested_template: Path, tmp_path: Path) -> None:
    db = copy_into(ingested_template, small_disk.root)
    before = raw_counts(db)
    small_disk.fill(leave=2_000_000)
    ran = karl(tmp_path, "build", "--db", db)
    assert_one_line(ran, EXIT_OS_FAULT, "karl build stopped: no space left", "MB free on",
                    "free space and run `karl build` again")
    assert not leftover_temporaries(db)
    small_disk.free()
    ran = karl(tmp_path, "build", "--db", db)
    assert ran.returncode == 0, ran.output[-3000:]
    assert raw_counts(db) == before


@pytest.mark.parametrize("step", ["round 0: build", "closing: build the marts"])
def test_disk_full_during_a_run_then_resume_loses_and_doubles_nothing(
        step: str, small_disk: SmallDisk, fbl_warehouse_template: Path, reference_run: tuple[dict, list],
        tmp_path: Path) -> None:
    db = copy_into(fbl_warehouse_template, small_disk.root)
    run = Started(tmp_path, "run", *RUN_ARGS, "--run-id", RUN_ID, "--db", db)
    assert watch_until(lambda: current_step(db).startswith(step), run.process), run.text()[-3000:]
    small_disk.fill(leave=0)
    ran = run.finish()
    assert_one_line(ran, EXIT_OS_FAULT, "karl run (", "stopped: no space left", "MB free on",
                    f"nothing was lost: free space and run `karl run --resume {RUN_ID}`")
    # aborted, never "stopped" by an invariant a full disk did not break ("running" with a dead pid,
    # read as aborted, when the disk had no room for the run's last word)
    state = run_state(db)
    assert RunSnapshot.from_dict(state).effective_state == "aborted"
    assert "invariant" not in (state.get("message") or "")
    small_disk.free()
    assert not leftover_temporaries(db)
    ran = karl(tmp_path, "run", "--resume", RUN_ID, "--db", db)
    assert ran.returncode == 0, ran.output[-3000:]
    assert run_state(db)["state"] == "completed"
    counts, metrics = reference_run
    assert raw_counts(db) == counts
    assert round_metrics(db) == metrics
