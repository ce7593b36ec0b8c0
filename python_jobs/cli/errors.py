"""The error boundary's words: one line per failure, whatever raised it.

- KarlError: its own message (it says what to do); exit 1, a UsageError 2.
- A known OS fault (no space, permission denied, a directory for a file, a file that is no
  DuckDB warehouse, a read-only warehouse), raw or wrapped in a KarlError (dbt's failures):
  its sentence (faults/sentences.py); exit 74.
- Ctrl-C or SIGTERM: what was interrupted and how to go on; exit 130 (143 for SIGTERM).
- Anything else is a bug: what karl was doing and the error's message; exit 70.
Every failure but a KarlError writes its traceback to `<warehouse>.logs/karl-errors.log` and the
line says where; `karl --debug` raises instead, so the traceback shows.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

import duckdb

from python_jobs.errors import KarlError
from python_jobs.faults.activity import Activity
from python_jobs.faults.error_log import write_error_log
from python_jobs.faults.sentences import (
    EXIT_INTERRUPTED,
    EXIT_OS_FAULT,
    EXIT_UNEXPECTED,
    find_fault,
    resume_command,
    sentence,
)
from python_jobs.faults.signals import received_signal


@dataclass(frozen=True)
class Verdict:
    line: str
    exit_code: int
    event: str


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _log_note(error: BaseException, activity: Activity) -> str:
    path = write_error_log(error, activity.doing(), activity.warehouse)
    return f" (traceback in {path})" if path else ""


def verdict(error: BaseException, activity: Activity) -> Verdict:
    """What the boundary prints for `error` and the exit code."""
    if isinstance(error, KeyboardInterrupt):
        return interrupted(activity)
    fault = find_fault(error)
    if fault is not None:
        return Verdict("error: " + sentence(fault, activity) + _log_note(error, activity), EXIT_OS_FAULT, "os_fault")
    if isinstance(error, KarlError):
        return Verdict(f"error: {error}", error.exit_code, "karl_error")
    unbuilt = _unbuilt_relation(error)
    if unbuilt:
        # a reader without its own require_marts check: still one line naming the build
        return Verdict(f"error: {activity.doing()} reads {unbuilt}, which no `karl build` has made yet: run "
                       "`karl build` (after `karl ingest fbl` if the warehouse holds no data)", 1, "marts_missing")
    message = _one_line(str(error)) or "(no message)"
    return Verdict(f"error: {activity.doing()} failed unexpectedly: {type(error).__name__}: {message}"
                   f"{_log_note(error, activity)}; this is a bug in karl, please report it with that file",
                   EXIT_UNEXPECTED, "unexpected_error")


_BUILT_RELATION = re.compile(r'with name "((?:staging|intermediate|marts)\.\w+)" does not exist')


def _unbuilt_relation(error: BaseException) -> str | None:
    """`marts.x` when DuckDB says a relation dbt builds does not exist."""
    match = _BUILT_RELATION.search(str(error)) if isinstance(error, duckdb.CatalogException) else None
    return match.group(1) if match else None


def interrupted(activity: Activity) -> Verdict:
    signum = received_signal()
    how = "stopped by SIGTERM" if signum == signal.SIGTERM else "interrupted"
    code = 128 + signum if signum else EXIT_INTERRUPTED
    resume = resume_command(activity)
    if activity.run_id and resume:
        next_step = f"run {activity.run_id} is marked aborted; resume it with {resume}"
    elif activity.command.startswith("karl ingest"):
        next_step = f"the batch being loaded was rolled back; run `{activity.command}` again"
    else:
        next_step = f"nothing half-written was kept; run `{activity.command}` again"
    return Verdict(f"{activity.doing()} {how}: {next_step}", code, "interrupted")
