"""How the CLI speaks: rich text for people (default), nothing but errors and results under
--quiet, one JSON object per line under --log-format json (for log shippers and CI).

Messages go to stderr, results (tables, a run id, a report path) to stdout, so `karl ... | jq`
and `2>/dev/null` behave. A JSON line carries ts (UTC ISO time), level, event (a stable name,
e.g. "step_done") and message, plus the event's own fields (run_id, phase, step, seconds...).
"""

from __future__ import annotations

import enum
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any

from rich.console import Console


class LogFormat(str, enum.Enum):
    text = "text"
    json = "json"


@dataclass
class Output:
    quiet: bool = False
    log_format: LogFormat = LogFormat.text
    stdout: IO[str] | None = None
    stderr: IO[str] | None = None
    console: Console = field(init=False)
    err_console: Console = field(init=False)

    def __post_init__(self) -> None:
        # Off a terminal (CI, pipes) rich would wrap tables at 80 columns.
        out_tty = (self.stdout or sys.stdout).isatty()
        err_tty = (self.stderr or sys.stderr).isatty()
        self.console = Console(file=self.stdout, width=None if out_tty else 160)
        self.err_console = Console(file=self.stderr, stderr=self.stderr is None, width=None if err_tty else 160)

    @property
    def json(self) -> bool:
        return self.log_format == LogFormat.json

    @property
    def show_progress(self) -> bool:
        """Progress bars only for a person watching text output."""
        return not self.quiet and not self.json

    def _emit(self, level: str, event: str, message: str, fields: dict[str, Any]) -> None:
        record = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "level": level,
                  "event": event, "message": message, **fields}
        stream = self.stderr or sys.stderr
        stream.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        stream.flush()

    def info(self, message: str, event: str = "info", **fields: Any) -> None:
        """Progress and chatter: hidden under --quiet."""
        if self.quiet:
            return
        if self.json:
            self._emit("info", event, message, fields)
        else:
            self.err_console.print(message, highlight=False, soft_wrap=True)

    def warning(self, message: str, event: str = "warning", **fields: Any) -> None:
        if self.json:
            self._emit("warning", event, message, fields)
        elif not self.quiet:
            self.err_console.print(f"[yellow]{message}[/yellow]", highlight=False, soft_wrap=True)

    def error(self, message: str, event: str = "error", **fields: Any) -> None:
        """Always shown, also under --quiet."""
        if self.json:
            self._emit("error", event, message, fields)
        else:
            self.err_console.print(f"[red]{message}[/red]", highlight=False, soft_wrap=True)

    def result(self, renderable: Any = None, event: str = "result", **fields: Any) -> None:
        """What the command produced: a rich table/text in text mode (also under --quiet), the
        fields as one JSON object on stdout in json mode."""
        if self.json:
            stream = self.stdout or sys.stdout
            stream.write(json.dumps({"event": event, **fields}, default=str, ensure_ascii=False) + "\n")
            stream.flush()
        elif renderable is not None:
            self.console.print(renderable, soft_wrap=True)
