"""What this invocation is doing, for the error boundary's one line: the command, the warehouse
file, and - during `karl run` - the run id and the step under way. A context variable, so
CliRunner invocations in one test process do not see each other's."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Activity:
    command: str = "karl"  # "karl run", "karl ingest fbl"
    warehouse: Path | None = None
    run_id: str | None = None  # set once the run is registered (so `--resume` can find it)
    step: str | None = None  # "round 2: annotate", "closing: build the marts (dbt)"

    def doing(self) -> str:
        return f"{self.command} ({self.step})" if self.step else self.command


_ACTIVITY: ContextVar[Activity | None] = ContextVar("karl_activity", default=None)


def current() -> Activity:
    activity = _ACTIVITY.get()
    if activity is None:
        activity = Activity()
        _ACTIVITY.set(activity)
    return activity


def start(command: str) -> Activity:
    """A fresh record for a new invocation."""
    activity = Activity(command=command)
    _ACTIVITY.set(activity)
    return activity


def note_warehouse(path: Path) -> None:
    current().warehouse = path


def note_run(run_id: str) -> None:
    current().run_id = run_id


def note_step(step: str | None) -> None:
    current().step = step or None
