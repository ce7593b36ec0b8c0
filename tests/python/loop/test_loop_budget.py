"""`karl run --max-cost` stops cleanly at the budget; `--resume --max-cost` finishes the round
sending only the missing calls (real CLI, real openai client, local HTTP server)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from python_jobs.cli import app
from python_jobs.testing.fake_llm_server import FakeLLMServer

pytestmark = pytest.mark.slow  # every test here runs the loop


def test_budget_stop_then_resume_with_more(fbl_warehouse_template: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    db_path = tmp_path / "karl.duckdb"
    shutil.copyfile(fbl_warehouse_template, db_path)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"fake-llm": {"input": 1000.0, "output": 1000.0}}))
    monkeypatch.setenv("KARL_DUCKDB_PATH", str(db_path))
    monkeypatch.setenv("KARL_DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("KARL_LLM_PRICES", str(prices))
    monkeypatch.setenv("KARL_LLM_MODEL", "fake-llm")
    with FakeLLMServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        args = ["run", "--workers", "1", "--annotator", "openai", "--rounds", "1", "--budget", "10", "--members", "3",
                "--tuning-trials", "2", "--run-id", "budgeted", "--max-cost", "2.0"]
        stopped = CliRunner().invoke(app, args)
        assert stopped.exit_code == 1, stopped.output
        assert "cost budget" in stopped.output and "--resume budgeted" in stopped.output
        con = duckdb.connect(str(db_path))
        calls, spent = con.execute(
            "select count(*), sum(cost_usd) from raw.llm_calls where run_id = 'budgeted'").fetchone()
        con.close()
        assert 0 < calls < 30 and spent <= 2.0
        requests_before = len(server.requests)

        resumed = CliRunner().invoke(app, ["run", "--resume", "budgeted", "--max-cost", "1000"])
        assert resumed.exit_code == 0, resumed.output
        new_requests = len(server.requests) - requests_before
    con = duckdb.connect(str(db_path), read_only=True)
    selected = con.execute("select count(*) from raw.selections where run_id = 'budgeted'").fetchone()[0]
    total = con.execute("select count(*) from raw.llm_calls where run_id = 'budgeted'").fetchone()[0]
    assert total == 3 * selected
    assert new_requests >= total - calls and new_requests <= total - calls + 2  # + format negotiation
    assert con.execute("select count(*) from marts.fct_round_metrics where run_id = 'budgeted'").fetchone()[0] == 2
