"""A build killed with SIGKILL at three points, then built again; a run stopped with SIGTERM
(handled as Ctrl-C: one line, the run marked aborted, the resume command), then resumed to the
same rounds and rows as a run that was never stopped."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from fault_tools import (
    RUN_ARGS,
    RUN_ID,
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

pytestmark = pytest.mark.slow
NODE_DONE = re.compile(r"^.*\d+ of \d+ (OK|PASS)", re.M)


def test_a_build_killed_at_three_points_then_builds(ingested_template: Path, tmp_path: Path) -> None:
    db = copy_into(ingested_template, tmp_path / "w")
    before = raw_counts(db)
    for nodes_done in (1, 60, 180):  # a model of the first layer, staging done, deep in the marts' tests
        build = Started(tmp_path, "build", "--db", db)
        assert watch_until(lambda: len(NODE_DONE.findall(build.text())) >= nodes_done, build.process)
        build.process.send_signal(signal.SIGKILL)
        assert build.finish().returncode == -signal.SIGKILL
    ran = karl(tmp_path, "build", "--db", db)
    assert ran.returncode == 0 and "Traceback" not in ran.output, ran.output[-3000:]
    assert "ERROR=0" in ran.output
    assert raw_counts(db) == before


def test_sigterm_during_a_run_marks_it_aborted_and_resume_completes_it(
        fbl_warehouse_template: Path, reference_run: tuple[dict, list], tmp_path: Path) -> None:
    db = copy_into(fbl_warehouse_template, tmp_path / "w")
    run = Started(tmp_path, "run", *RUN_ARGS, "--run-id", RUN_ID, "--db", db)
    assert watch_until(lambda: current_step(db).startswith("round 0: select"), run.process), run.text()[-3000:]
    run.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    ran = run.finish(timeout=120)  # one signal is enough: no second Ctrl-C
    assert time.monotonic() - started < 120
    assert_one_line(ran, 128 + signal.SIGTERM, "karl run (round 0: select) stopped by SIGTERM",
                    f"run {RUN_ID} is marked aborted; resume it with `karl run --resume {RUN_ID}`")
    assert run_state(db)["state"] == "aborted"
    assert not leftover_temporaries(db)
    ran = karl(tmp_path, "run", "--resume", RUN_ID, "--db", db)
    assert ran.returncode == 0, ran.output[-3000:]
    counts, metrics = reference_run
    assert raw_counts(db) == counts
    assert round_metrics(db) == metrics


def test_sigterm_during_a_build_is_one_line_and_the_next_build_passes(ingested_template: Path, tmp_path: Path) -> None:
    db = copy_into(ingested_template, tmp_path / "w")
    build = Started(tmp_path, "build", "--db", db)
    assert watch_until(lambda: len(NODE_DONE.findall(build.text())) >= 30, build.process)
    build.process.send_signal(signal.SIGTERM)
    ran = build.finish(timeout=120)
    assert_one_line(ran, 128 + signal.SIGTERM, "karl build stopped by SIGTERM", "run `karl build` again")
    ran = karl(tmp_path, "build", "--db", db)
    assert ran.returncode == 0, ran.output[-3000:]
