"""`karl demo` (the README's `make demo`) from an empty warehouse: ingest, build, a replay run."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from python_jobs.cli import app


@pytest.mark.slow
def test_demo_ingests_builds_and_runs_from_an_empty_warehouse(fbl_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "demo.duckdb"
    monkeypatch.setenv("KARL_FBL_DIR", str(fbl_dir))
    monkeypatch.setenv("KARL_DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("KARL_DUCKDB_PATH", str(db))
    result = CliRunner().invoke(app, ["--quiet", "demo", "--rounds", "1", "--db", str(db)])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    with duckdb.connect(str(db), read_only=True) as con:
        rounds = con.execute("select count(*) from marts.fct_round_metrics").fetchone()[0]
        accepted = con.execute("select count(*) from marts.fct_consensus_labels where is_accepted").fetchone()[0]
    assert rounds == 2 and accepted > 0
