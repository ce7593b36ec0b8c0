"""The full traceback of a fault, written where the user can find it: `<warehouse>.logs/karl-errors.log`
(rotated: 1 MB, 3 old files), or `<temp dir>/karl-logs/` when the warehouse's folder takes no file
(read-only, full, missing)."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_NAME = "karl-errors.log"
MAX_BYTES = 1_000_000
BACKUPS = 3


def log_dir_for(warehouse: Path | None) -> Path:
    """`<warehouse>.logs/` beside the warehouse file."""
    if warehouse is None:
        return Path(tempfile.gettempdir()) / "karl-logs"
    warehouse = warehouse.absolute()
    return warehouse.with_name(warehouse.name + ".logs")


def write_error_log(error: BaseException, doing: str, warehouse: Path | None) -> Path | None:
    """Append the traceback of `error` (its causes included) to the log; the log's path, or None
    when no folder took it. Never raises: the boundary must still print its line."""
    text = "".join(traceback.format_exception(error))
    for folder in (log_dir_for(warehouse), Path(tempfile.gettempdir()) / "karl-logs"):
        try:
            return _append(folder / LOG_NAME, f"{doing}: pid {os.getpid()}, argv {sys.argv}\n{text}")
        except OSError:
            continue
    return None


class _RaisingHandler(RotatingFileHandler):
    """logging's handlers print "--- Logging error ---" and a traceback on failure: raise instead."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        raise  # noqa: PLE0704 - called inside emit's except block


def _append(path: Path, message: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = _RaisingHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    try:
        handler.emit(logging.LogRecord("karl", logging.ERROR, __file__, 0, message, None, None))
        handler.flush()
    finally:
        handler.close()
    return path
