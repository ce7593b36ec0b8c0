"""dbt in-process (dbtRunner) against the warehouse file.

One process owns the file at a time. Inside that process, dbt-duckdb opens the same path and
DuckDB hands it the already-open database instance, so the loop can keep its connection while
dbt builds.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_jobs.errors import KarlError
from python_jobs.warehouse.connection import PROJECT_DIR, default_db_path
from python_jobs.warehouse.dbt_parse import parsed_manifest

# `karl build`: seeds, models, snapshots and every data test. Unit tests check SQL logic, not
# data: `make test` runs them (`karl build --unit-tests`), as dbt advises for production builds.
PRODUCTION_BUILD_ARGS = ["build", "--exclude", "resource_type:unit_test"]
# Commands handed the parse of warehouse/dbt_parse.py (dbt still writes manifest.json and
# run_results.json for them unless the call is ``repeated``): dbt's own partial parse in the
# target folder starts over whenever the warehouse path or the vars differ from its last parse.
PARSE_REUSING_COMMANDS = {"build", "run", "test", "seed", "snapshot"}


class DbtFailedError(KarlError):
    """A dbt command failed: a model errored or a test (an invariant) failed."""

    def __init__(self, message: str, failures: list[str]):
        super().__init__(message)
        self.failures = failures


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
    target: str | None = None,
) -> DbtResult:
    """Run a dbt command in-process (dbtRunner) against the warehouse file.

    Failures (model errors, failing tests) come back by name; with raise_on_failure a
    DbtFailedError stops the caller with a message naming the failed nodes.

    ``repeated``: for builds this process runs again and again (every build of a run). The
    parsed project is kept and handed back to dbt (dbtRunner(manifest=...)) while the project
    files, the environment they read, vars, target and database name are unchanged, and the
    run skips writing run_results.json and manifest.json (results come back in memory): a full
    parse costs ~5-7 CPU-seconds, one reused in the process nothing, one partially re-parsed
    from an earlier process's state ~0.5 s (warehouse/dbt_parse.py), and each build ~0.5 s less.
    The other commands of PARSE_REUSING_COMMANDS reuse the parse too, and write dbt's JSON.

    ``target``: a profiles.yml output other than the default (`spark`, `spark_thrift`,
    `databricks`; else $KARL_DBT_TARGET); with `spark`, the process's Spark session (spark/session.py) is started
    first, so dbt-spark reuses it with karl's configuration.
    """

    from dbt.cli.main import dbtRunner

    path = Path(db_path) if db_path else default_db_path()
    os.environ["KARL_DUCKDB_PATH"] = str(path)
    # What the parse depends on (warehouse/dbt_parse.py), then where dbt writes.
    options = ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    target = target or os.environ.get("KARL_DBT_TARGET") or None  # profiles.yml reads it too
    if target:
        options += ["--target", target]
        if target == "spark":
            from python_jobs.spark.session import spark_session

            spark_session()
    if dbt_vars:
        options += ["--vars", json.dumps(dbt_vars, sort_keys=True)]
    # Parallel dbt processes (tests, helpers) must not share target/: $KARL_DBT_TARGET_PATH moves it.
    target_dir = target_path or os.environ.get("KARL_DBT_TARGET_PATH")
    paths = ["--target-path", str(target_dir), "--log-path", str(Path(target_dir) / "logs")] if target_dir else []
    common = options + paths
    flags = ["--quiet", "--no-use-colors"] if quiet else []
    started = time.perf_counter()
    try:
        callbacks = [_hide_interrupt_traceback]
        manifest = None
        if repeated or (args and args[0] in PARSE_REUSING_COMMANDS):
            manifest, parse_error = parsed_manifest(options, target_dir, path)
            interrupted_parse = _interruption(parse_error)
            if interrupted_parse is not None:
                raise interrupted_parse  # Ctrl-C / SIGTERM during the parse
        if manifest is not None:
            result = dbtRunner(manifest=manifest, callbacks=callbacks).invoke(
                flags + list(args) + (["--no-write-json"] if repeated else []) + common)
        else:  # not parsed ahead, or the parse failed: dbt parses (again) and reports it as it does
            result = dbtRunner(callbacks=callbacks).invoke(flags + list(args) + common)
    finally:
        _release_dbt_handle()
    seconds = time.perf_counter() - started
    interrupted = _interruption(result.exception)
    if interrupted is not None:
        raise interrupted  # Ctrl-C / SIGTERM stops karl too, not only this build
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


def _hide_interrupt_traceback(_event: object) -> None:
    """dbtRunner callback: keep dbt's loggers from printing the stack trace of a Ctrl-C/SIGTERM
    (dbt prints one for any exception it did not raise); karl says in one line what was
    interrupted. A callback sees each event after the loggers, so the first event of an
    invocation wraps the filters of the loggers dbt has just set up."""
    from dbt_common.events.event_manager_client import get_event_manager

    for logger in getattr(get_event_manager(), "loggers", []):
        if getattr(logger.filter, "karl_hides_interrupts", False):
            continue
        original = logger.filter

        def keep(message: Any, original: Any = original) -> bool:
            if message.info.name == "MainStackTrace" and "KeyboardInterrupt" in message.data.stack_trace:
                return False
            return original(message)

        keep.karl_hides_interrupts = True  # type: ignore[attr-defined]
        logger.filter = keep


def _interruption(error: BaseException | None) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt dbtRunner caught (it returns every exception as a result), if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, KeyboardInterrupt):
            return error
        error = getattr(error, "exception", None) or error.__cause__ or error.__context__
    return None


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
