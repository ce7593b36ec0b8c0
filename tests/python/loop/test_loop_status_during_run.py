"""`karl status` while a run holds the warehouse: it reads what the run publishes after every
step (the single-writer rule stands: status never opens the locked file), sees the run working
from its first second, and sees it aborted after a kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here runs the loop

KARL = [sys.executable, "-m", "python_jobs.cli"]


def _status(env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([*KARL, *options, "status"], env=env, capture_output=True, text=True, timeout=300)


def test_status_during_a_run_shows_its_step_then_aborted_after_kill_9(fbl_warehouse: Path, tmp_path: Path) -> None:
    env = {**os.environ, "KARL_DUCKDB_PATH": str(fbl_warehouse), "KARL_DBT_TARGET_PATH": str(tmp_path / "target"),
           "COLUMNS": "250"}
    run_id = "status-during-run-0123456789"  # long: status must print it whole (what --resume takes)
    log = tmp_path / "run.jsonl"
    run = subprocess.Popen([*KARL, "--log-format", "json", "run", "--strategy", "margin", "--rounds", "2",
                            "--seed", "3", "--members", "3", "--tuning-trials", "2", "--budget", "25",
                            "--workers", "1", "--run-id", run_id],
                           env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True)
    started = time.monotonic()
    try:
        while not log.read_text().strip() and time.monotonic() - started < 60:
            time.sleep(0.05)
        first_line = json.loads(log.read_text().splitlines()[0])  # progress from the first second, as JSON
        assert first_line["event"] == "run_started" and first_line["run_id"] == run_id
        # Wait until the run is in round 1: round 0's build has then published the marts copy
        # that status reads while the run holds the warehouse.
        seen_steps: list[str] = []
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not (seen_steps and seen_steps[-1].startswith("round 1")):
            result = _status(env, "--log-format", "json")
            assert result.returncode == 0, result.stderr
            status = json.loads(result.stdout)
            runs = {r["run_id"]: r for r in status["runs"]}
            if run_id in runs:  # published from the run's first step on
                assert status["locked_by"] and runs[run_id]["state"] == "running", status
                seen_steps.append(runs[run_id]["current"] or "")
            time.sleep(0.5)
        assert seen_steps and seen_steps[-1].startswith("round 1"), seen_steps
        text = _status(env)
        assert "in use by process" in text.stdout and run_id in text.stdout and "running (" in text.stdout
        assert "Training labels" in text.stdout, text.stdout
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=60)
    after = _status(env)
    assert after.returncode == 0, after.stderr
    assert f"{run_id} aborted" in after.stdout and f"karl run --resume {run_id}" in after.stdout
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    steps = [e for e in events if e["event"] == "step_done"]
    assert steps and steps[0]["phase"] == "set-up" and all("seconds" in e for e in steps)
