"""Access to the one DuckDB file: open it (with a clear error when another process holds it),
create the raw tables, and run dbt in-process against it.

One process owns the file at a time. Inside that process, dbt-duckdb opens the same path and
DuckDB hands it the already-open database instance, so the orchestrator can keep its connection
while dbt builds.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import psutil
import pyarrow as pa  # imported up front: its first use costs ~0.5 s, not to be paid mid-round

from python_jobs.raw_schema import create_raw_tables

PROJECT_DIR = Path(os.environ.get("KARL_PROJECT_DIR", Path(__file__).resolve().parent.parent))
DEFAULT_DB_RELATIVE = Path("warehouse") / "karl.duckdb"


# `karl build`: seeds, models, snapshots and every data test. Unit tests check SQL logic, not
# data: `make test` runs them (`karl build --unit-tests`), as dbt advises for production builds.
PRODUCTION_BUILD_ARGS = ["build", "--exclude", "resource_type:unit_test"]


class WarehouseLockedError(RuntimeError):
    """Another process holds the DuckDB file."""


class DbtFailedError(RuntimeError):
    """A dbt command failed: a model errored or a test (an invariant) failed."""

    def __init__(self, message: str, failures: list[str]):
        super().__init__(message)
        self.failures = failures


def default_db_path() -> Path:
    configured = os.environ.get("KARL_DUCKDB_PATH")
    if configured:
        return Path(configured).expanduser().resolve()
    return (PROJECT_DIR / DEFAULT_DB_RELATIVE).resolve()


def _holder_description(message: str) -> str:
    match = re.search(r"PID (\d+)", message)
    if not match:
        return "another process"
    pid = int(match.group(1))
    try:
        process = psutil.Process(pid)
        command = " ".join(process.cmdline()) or process.name()
        return f"process {pid} ({command})"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return f"process {pid}"


def connect(db_path: Path | str | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file; raise WarehouseLockedError naming the holder if it is taken."""
    path = Path(db_path) if db_path else default_db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        text = str(error)
        if "lock" not in text.lower():
            raise
        raise WarehouseLockedError(
            f"The warehouse {path} is in use by {_holder_description(text)}. "
            "karl lets one process own the DuckDB file at a time: wait for it to finish or stop it, "
            "or point KARL_DUCKDB_PATH at another file."
        ) from error
    if not read_only:
        create_raw_tables(con)
    return con


@dataclass
class DbtResult:
    success: bool
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_dbt(
    args: list[str],
    db_path: Path | str | None = None,
    dbt_vars: dict[str, object] | None = None,
    raise_on_failure: bool = True,
    quiet: bool = True,
    target_path: Path | str | None = None,
    repeated: bool = False,
) -> DbtResult:
    """Run a dbt command in-process (dbtRunner) against the warehouse file.

    Failures (model errors, failing tests) come back by name; with raise_on_failure a
    DbtFailedError stops the caller with a message naming the failed nodes.

    ``repeated``: for a build this process runs again and again (the loop's per-round build).
    The parsed project is kept and handed back to dbt (dbtRunner(manifest=...)) while the
    project files, vars and target are unchanged, and the run skips writing run_results.json
    and manifest.json (results come back in memory); about 0.5 s less per build.
    """
    import json
    import time

    from dbt.cli.main import dbtRunner

    path = Path(db_path) if db_path else default_db_path()
    os.environ["KARL_DUCKDB_PATH"] = str(path)
    common = ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    # Parallel dbt processes (tests, helpers) must not share target/: $KARL_DBT_TARGET_PATH moves it.
    target = target_path or os.environ.get("KARL_DBT_TARGET_PATH")
    if target:
        common += ["--target-path", str(target), "--log-path", str(Path(target) / "logs")]
    if dbt_vars:
        common += ["--vars", json.dumps(dbt_vars, sort_keys=True)]
    flags = ["--quiet", "--no-use-colors"] if quiet else []
    started = time.perf_counter()
    try:
        if repeated:
            manifest = _parsed_manifest(flags + ["parse"] + common, str(path))
            result = dbtRunner(manifest=manifest).invoke(flags + list(args) + ["--no-write-json"] + common)
        else:
            result = dbtRunner().invoke(flags + list(args) + common)
    finally:
        _release_dbt_handle()
    seconds = time.perf_counter() - started
    failures: list[str] = []
    warnings: list[str] = []
    if result.result is not None and hasattr(result.result, "results"):
        for node_result in result.result.results:
            status = str(getattr(node_result, "status", "")).lower()
            name = getattr(getattr(node_result, "node", None), "name", "?")
            message = getattr(node_result, "message", "") or ""
            if status in {"error", "fail", "runstatus.error", "teststatus.fail", "teststatus.error"}:
                failures.append(f"{name}: {message}".strip())
            elif status in {"warn", "teststatus.warn"}:
                warnings.append(f"{name}: {message}".strip())
    if result.exception is not None:
        failures.append(f"dbt raised {type(result.exception).__name__}: {result.exception}")
    success = bool(result.success) and not failures
    if not success and not failures:
        failures.append("dbt reported failure (see dbt output above)")
    outcome = DbtResult(success=success, failures=failures, warnings=warnings, seconds=seconds)
    if raise_on_failure and not success:
        raise DbtFailedError(
            f"dbt {' '.join(args)} failed: " + "; ".join(failures), failures=failures
        )
    return outcome


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list[tuple],
                on_conflict_do_nothing: bool = True) -> None:
    """Insert rows in one statement from an arrow table: `executemany` runs one statement per
    row (~5 ms each on the warehouse), which made a round's 30-50 bookkeeping rows cost ~0.2 s."""
    if not rows:
        return
    frame = pa.Table.from_pylist([dict(zip(columns, row)) for row in rows])
    # A cursor of its own: duckdb 2 refuses register() on a connection holding an unfinished result.
    cursor = con.cursor()
    try:
        cursor.register("_karl_insert_rows", frame)
        cursor.execute(
            f"insert into {table} ({', '.join(columns)}) select {', '.join(columns)} from _karl_insert_rows"
            + (" on conflict do nothing" if on_conflict_do_nothing else "")
        ).fetchall()
    finally:
        cursor.close()


_MANIFESTS: dict[tuple, object] = {}


def _project_fingerprint() -> tuple:
    """Names, sizes and mtimes of the files dbt parses: a changed file means a new parse."""
    files = [PROJECT_DIR / "dbt_project.yml", PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds", "snapshots"):
        files += sorted((PROJECT_DIR / folder).rglob("*"))
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file())


def _parsed_manifest(parse_command: list[str], db_path: str) -> object:
    from dbt.cli.main import dbtRunner

    key = (tuple(parse_command), db_path, _project_fingerprint())
    if key not in _MANIFESTS:
        result = dbtRunner().invoke(parse_command)
        if not result.success or result.result is None:
            raise DbtFailedError(f"dbt parse failed: {result.exception}", failures=[f"dbt parse: {result.exception}"])
        _MANIFESTS.clear()
        _MANIFESTS[key] = result.result
    return _MANIFESTS[key]


def _release_dbt_handle() -> None:
    """Close dbt-duckdb's process-wide database handle after each invocation.

    Otherwise the file stays open after the caller closes its own connection: it is neither
    checkpointed nor re-openable read-only in this process. While the caller's connection is
    open, DuckDB's instance cache makes the next dbt invocation reopen it at no cost.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if environment is not None:
        try:
            environment.close()
        except Exception:  # noqa: BLE001 - closing is best effort; the next invoke opens anew
            pass
