"""The OS-fault sentences on the errors as Python, DuckDB and dbt raise them (fast: no process).
Permission denied cannot be provoked as root (the suite's user), so it is built here as the OS
would raise it."""

from __future__ import annotations

import errno
from pathlib import Path

import duckdb

from python_jobs.errors import KarlError
from python_jobs.faults.activity import Activity
from python_jobs.faults.sentences import find_fault, sentence
from python_jobs.warehouse import DbtFailedError


def test_permission_denied_names_the_file_and_the_next_step(tmp_path: Path) -> None:
    error = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "karl.duckdb"))
    fault = find_fault(error)
    assert fault is not None and fault.kind == "permission_denied"
    line = sentence(fault, Activity(command="karl build"))
    assert line == (f"karl build stopped: permission denied on {tmp_path / 'karl.duckdb'}; give your user access "
                    "to it (or point --db / KARL_DUCKDB_PATH elsewhere) and run `karl build` again")


def test_no_space_reported_by_dbt_as_text_is_found_with_its_file(tmp_path: Path) -> None:
    wal = tmp_path / "karl.duckdb.wal"
    error = DbtFailedError("dbt build failed",
                           [f'm: Failed to commit: Could not write file "{wal}": No space left on device'])
    fault = find_fault(KarlError("the run stopped"))
    assert fault is None
    try:
        raise KarlError("An invariant failed") from error
    except KarlError as wrapped:
        fault = find_fault(wrapped)
    assert fault is not None and (fault.kind, fault.path) == ("no_space", wal)
    line = sentence(fault, Activity(command="karl run", run_id="r1", step="round 0: build"))
    assert line.startswith(f"karl run (round 0: build) stopped: no space left on the device writing {wal} (")
    assert "MB free on" in line and line.endswith("nothing was lost: free space and run `karl run --resume r1`")


def test_a_duckdb_error_on_a_file_that_is_no_database_is_named(tmp_path: Path) -> None:
    notes = tmp_path / "notes.duckdb"
    notes.write_text("notes")
    try:
        duckdb.connect(str(notes))
    except duckdb.Error as error:
        fault = find_fault(error)
    assert fault is not None and (fault.kind, fault.path) == ("not_a_warehouse", notes)


def test_a_directory_opened_as_a_file_is_named(tmp_path: Path) -> None:
    try:
        (tmp_path).read_bytes()
    except OSError as error:
        fault = find_fault(error)
    assert fault is not None and fault.kind == "is_a_directory"
    assert "is a directory where karl expected a file" in sentence(fault, Activity(command="karl ingest fbl"))


def test_other_errors_are_no_os_fault() -> None:
    assert find_fault(ValueError("bent")) is None
    assert find_fault(KarlError("HTTP 403: permission denied by the API")) is None
