"""Every command answers bad input and a busy warehouse with one message and exit 1, never a
traceback (issue 14, cases 3, 4 and 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from hostile_fixtures import LockHolder, karl, one_line

from python_jobs.config import RunConfig
from python_jobs.warehouse.connection import WarehouseLockedError, connect

# Every command that opens the warehouse, with arguments that would otherwise be valid.
# (`karl status` is left out: on a busy warehouse it shows what the running process publishes.)
COMMANDS_THAT_OPEN_THE_WAREHOUSE = [
    ["build"],
    ["ingest", "fbl"],
    ["ingest", "catalog", "{catalog}", "--id-column", "id", "--title-column", "title", "--category-columns", "cat"],
    ["ingest", "reviews", "{reviews}"],
    ["ingest", "completejourney"],
    ["ingest", "undo", "0123456789abcdef"],
    ["report", "--out", "{folder}"],
    ["export", "review-queue", "--out", "{folder}/queue.csv"],
    ["plan"],
    ["run", "--rounds", "1"],
    ["run", "--resume", "some-run"],
    ["experiment", "--seeds", "1", "--rounds", "1"],
    ["predict"],
]


@pytest.fixture(scope="module")
def locked_warehouse(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("locked")
    db = folder / "karl.duckdb"
    connect(db).close()
    (folder / "items.csv").write_text("id,title,cat\n1,a,x\n")
    (folder / "reviews.csv").write_text("pair_key,item_a_id,item_b_id,relation_label\n")
    with LockHolder(db) as holder:
        yield folder, db, holder.pid


@pytest.mark.parametrize("command", COMMANDS_THAT_OPEN_THE_WAREHOUSE, ids=lambda c: " ".join(c[:2]))
def test_a_locked_warehouse_gets_the_message_naming_its_holder_from_every_command(
        locked_warehouse: tuple[Path, Path, int], command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, db, pid = locked_warehouse
    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    args = [part.format(catalog=folder / "items.csv", reviews=folder / "reviews.csv", folder=folder) for part in command]
    result = karl(*args, "--db", db, expect=1)
    text = one_line(result.output)
    assert f"is in use by process {pid}" in text
    assert "wait for it to finish or stop it" in text


def test_debug_shows_the_traceback_of_a_known_error(locked_warehouse: tuple[Path, Path, int]) -> None:
    _, db, pid = locked_warehouse
    result = subprocess.run([sys.executable, "-m", "python_jobs.cli", "--debug", "build", "--db", str(db)],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "1000"})
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert f"{WarehouseLockedError.__name__}: The warehouse {db} is in use by process {pid}" in result.stderr


def test_report_out_an_existing_file_is_refused_with_a_message(tmp_path: Path, db_path: Path) -> None:
    existing = tmp_path / "existing.html"
    existing.write_text("keep me")
    result = karl("report", "--out", existing, "--db", db_path, expect=1)
    assert f"--out {existing} is a file" in one_line(result.output)
    assert existing.read_text() == "keep me"


def test_export_out_a_directory_is_refused_with_a_message(tmp_path: Path, db_path: Path) -> None:
    folder = tmp_path / "a_folder"
    folder.mkdir()
    result = karl("export", "review-queue", "--out", folder, "--db", db_path, expect=1)
    assert f"--out {folder} is a folder" in one_line(result.output)


def test_export_before_any_build_says_to_build_first(tmp_path: Path, db_path: Path) -> None:
    result = karl("export", "review-queue", "--out", tmp_path / "queue.csv", "--db", db_path, expect=1)
    # a warehouse never loaded: the ingest is named before the build
    assert "`karl ingest fbl`" in one_line(result.output) and "`karl build`" in one_line(result.output)


def _record_run(db: Path, run_id: str, rounds: int = 1) -> None:
    """A run as `karl run` records it (raw.runs + the steps of its final evaluation)."""
    config = RunConfig(run_id=run_id, rounds=rounds, workers=1)
    con = connect(db)
    try:
        now = datetime.now()
        con.execute("insert into raw.runs values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, config.strategy, config.annotator, config.seed, rounds, config.budget, config.to_json(), now])
        for round_index in range(rounds + 1):
            for step in ("train", "evaluate"):
                con.execute("insert into raw.run_steps values (?, ?, ?, 0.1, ?)", [run_id, round_index, step, now])
    finally:
        con.close()


@pytest.mark.parametrize(("args", "says"), [
    (["--strategies", "margn"], "unknown strategies ['margn']"),
    (["--seeds", ","], "at least one seed"),
    (["--seeds", "2-1"], "the range 2-1 is empty"),
    (["--seeds", "three"], "seeds are whole numbers"),
    (["--tuning-trials", "0"], "--tuning-trials must be >= 1"),
])
def test_an_experiment_of_no_runs_is_refused_before_it_opens_the_warehouse(
        tmp_path: Path, args: list[str], says: str) -> None:
    missing = tmp_path / "never-created.duckdb"
    result = karl("experiment", *args, "--db", missing, expect=2)
    assert says in one_line(result.output)
    assert not missing.exists()


def test_several_splits_without_a_dataset_to_split_are_refused_before_any_run(tmp_path: Path) -> None:
    """A catalogue-only warehouse: the FBL default roles name nothing, so there is no pool/test
    split to vary and --splits 2 would run every cell twice on the same data."""
    db = tmp_path / "karl.duckdb"
    connect(db).close()
    result = karl("experiment", "--splits", "2", "--rounds", "1", "--seeds", "0", "--strategies", "random",
                  "--db", db, expect=2)
    text = one_line(result.output)
    assert "--splits 2: no labelled dataset is both pool and eval" in text and "Use --splits 1" in text
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select count(*) from raw.runs").fetchone()[0] == 0
    finally:
        con.close()


def test_run_id_of_a_finished_run_without_resume_is_refused(db_path: Path) -> None:
    _record_run(db_path, "finished-run")
    result = karl("run", "--run-id", "finished-run", "--rounds", "2", "--strategy", "random", "--db", db_path, expect=1)
    text = one_line(result.output)
    assert "run finished-run already exists" in text
    assert "--resume finished-run" in text
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        assert con.execute("select count(*) from raw.run_steps where run_id = 'finished-run'").fetchone()[0] == 4
        assert con.execute("select count(*) from raw.run_artifacts where run_id = 'finished-run'").fetchone()[0] == 0
    finally:
        con.close()


def test_simulated_annotator_on_sampler_candidates_without_baskets_is_refused_before_round_0(
        fbl_warehouse: Path) -> None:
    result = karl("run", "--annotator", "simulated", "--candidate-source", "sampler", "--rounds", "1",
                  "--run-id", "sim-no-baskets", "--db", fbl_warehouse, expect=1)
    text = one_line(result.output)
    assert "the simulated annotator has no reference labels for --candidate-source sampler" in text
    con = duckdb.connect(str(fbl_warehouse), read_only=True)
    try:
        assert con.execute("select count(*) from raw.runs where run_id = 'sim-no-baskets'").fetchone()[0] == 0
    finally:
        con.close()


def test_simulated_annotator_without_fbl_judgements_is_refused_before_round_0(db_path: Path) -> None:
    result = karl("run", "--annotator", "simulated", "--rounds", "1", "--run-id", "sim-empty", "--db", db_path, expect=1)
    assert "the simulated annotator has no reference labels for --candidate-source fbl_pool" in one_line(result.output)


def test_openai_annotator_without_a_key_is_refused_before_round_0(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = karl("run", "--annotator", "openai", "--rounds", "1", "--run-id", "no-key", "--db", db_path, expect=1)
    assert "OPENAI_API_KEY is not set" in one_line(result.output)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        assert con.execute("select count(*) from raw.runs").fetchone()[0] == 0
    finally:
        con.close()
