"""Temporary files karl writes beside the warehouse and renames into place (a run's progress
JSON, the marts copy: reporting/progress.py). A failed write removes its own; a process killed
before it could (kill -9, power cut) leaves them, and the next start removes those whose
owner - the pid in their name - is gone."""

from __future__ import annotations

import os
import re
from pathlib import Path

# <name>.<pid>.tmp or <name>.<pid>.tmp.duckdb (and DuckDB's .wal beside the latter)
_OWNED_TEMPORARY = re.compile(r"\.(\d+)\.tmp(\.duckdb(\.wal)?)?$")


def temporary_path(target: Path, suffix: str = "") -> Path:
    """The temporary file this process writes before renaming it to `target`."""
    return target.with_name(f"{target.stem}.{os.getpid()}.tmp{suffix}") if suffix else \
        target.with_name(f"{target.name}.{os.getpid()}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files in `folder` whose writing process is gone; the deleted paths."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = _OWNED_TEMPORARY.search(path.name)
        if match is None or not path.is_file():
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and _alive(pid):
            continue
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            continue  # best effort: a file we may not delete is not worth failing a start over
    return removed
