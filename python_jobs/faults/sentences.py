"""What the user reads when the operating system (or DuckDB on its behalf) refuses: one sentence
naming the fault, the file and the next step. The fault may arrive raw (OSError), wrapped by
DuckDB (duckdb.IOException: 'Could not write file "...": No space left on device') or reported
as text by dbt (a node's error message), so causes and messages are both read."""

from __future__ import annotations

import errno
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from python_jobs.errors import KarlError
from python_jobs.faults.activity import Activity

# Exit codes (sysexits.h): a fault of the machine karl runs on, and a bug in karl.
EXIT_OS_FAULT = 74  # EX_IOERR
EXIT_UNEXPECTED = 70  # EX_SOFTWARE
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


@dataclass(frozen=True)
class Fault:
    kind: str  # no_space | permission_denied | is_a_directory | not_a_warehouse | read_only
    path: Path | None
    detail: str  # the error's own words


_PATTERNS: list[tuple[str, re.Pattern[str], int | None]] = [
    ("no_space", re.compile(r"no space left on device|disk is full|out of disk space", re.I), errno.ENOSPC),
    ("not_a_warehouse", re.compile(r"not a valid DuckDB database file", re.I), None),
    ("read_only", re.compile(r"read-only file system|read-only mode|readonly database", re.I), errno.EROFS),
    ("permission_denied", re.compile(r"permission denied", re.I), errno.EACCES),
    ("is_a_directory", re.compile(r"is a directory", re.I), errno.EISDIR),
]
_QUOTED_PATH = re.compile(r"""["'](/[^"']+)["']""")


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__  # type: ignore[assignment]


def find_fault(error: BaseException) -> Fault | None:
    """The first known OS fault in `error` or its causes (errno first, then the message text)."""
    for link in _chain(error):
        failures = getattr(link, "failures", None)  # dbt's failures, as text (DbtFailedError)
        if isinstance(link, KarlError) and failures is None:
            continue  # karl's own words: an API's "permission denied" is no file's
        text = " ".join(str(part) for part in [link, *(failures or [])])
        for kind, pattern, code in _PATTERNS:
            by_errno = isinstance(link, OSError) and code is not None and link.errno in {code, *_ALIASES.get(code, ())}
            if by_errno or pattern.search(text):
                filename = getattr(link, "filename", None) if isinstance(link, OSError) else None
                quoted = _QUOTED_PATH.search(text)
                path = Path(filename) if filename else Path(quoted.group(1)) if quoted else None
                detail = link.strerror if isinstance(link, OSError) and link.strerror else text.strip().splitlines()[0]
                return Fault(kind, path, detail)
    return None


_ALIASES = {errno.EACCES: (errno.EPERM,)}


def _free_space(path: Path | None) -> str:
    """'12.3 MB free on /mnt/w' for the nearest existing folder of `path`."""
    folder = path
    while folder is not None and not folder.exists():
        folder = folder.parent if folder.parent != folder else None
    if folder is None:
        return "free space unknown"
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "free space unknown"
    return f"{free / 1e6:.1f} MB free on {folder if folder.is_dir() else folder.parent}"


def resume_command(activity: Activity) -> str | None:
    """How to continue the interrupted work, when it was a registered run."""
    if activity.command == "karl experiment":
        return "`karl experiment` again with the same --experiment-id (finished runs are kept)"
    if activity.run_id:
        return f"`karl run --resume {activity.run_id}`"
    return None


def _again(activity: Activity, what: str) -> str:
    """The next step after the cause is fixed: resume the run, or run the command again."""
    resume = resume_command(activity)
    if resume:
        return f"nothing was lost: {what} and run {resume}"
    if activity.command.startswith("karl ingest"):
        return f"nothing of the interrupted batch was loaded: {what} and run `{activity.command}` again"
    return f"{what} and run `{activity.command}` again"


def sentence(fault: Fault, activity: Activity) -> str:
    """One line: what karl was doing, the fault, and what to do."""
    where = str(fault.path or activity.warehouse or "a file")
    doing = activity.doing()
    if fault.kind == "no_space":
        free = _free_space(fault.path or activity.warehouse)
        return (f"{doing} stopped: no space left on the device writing {where} ({free}); "
                + _again(activity, "free space"))
    if fault.kind == "permission_denied":
        return (f"{doing} stopped: permission denied on {where}; "
                + _again(activity, "give your user access to it (or point --db / KARL_DUCKDB_PATH elsewhere)"))
    if fault.kind == "is_a_directory":
        return (f"{doing} stopped: {where} is a directory where karl expected a file; "
                f"replace it with the file and run `{activity.command}` again")
    if fault.kind == "not_a_warehouse":
        return (f"{doing} stopped: {where} is not a DuckDB warehouse (some other file is there); "
                "point --db / KARL_DUCKDB_PATH at a .duckdb file karl made, or at a new path")
    if fault.kind == "read_only":
        return (f"{doing} stopped: {where} is read-only (a read-only file system or file); "
                + _again(activity, "make it writable or copy the warehouse somewhere writable"))
    return f"{doing} stopped: {fault.detail}"
