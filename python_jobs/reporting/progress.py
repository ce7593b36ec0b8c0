"""What a run is doing, published for readers that cannot open the warehouse while it works.

DuckDB allows one writing process per file and no reader next to it, and a run holds its file
from start to end. Rather than weaken that (no second connection, no lock juggling), the run
publishes its progress to a small JSON file next to the warehouse after every step:
``<warehouse>.runs/<run_id>.json``, written to a temporary file and renamed, so a reader never
sees half a file; and after its round builds (at most every 20 s) and its closing build it copies the marts into
``<warehouse>.runs/latest_marts.duckdb`` (`publish_marts`), which anyone can open read-only meanwhile.
`karl status` reads these files when the warehouse is locked (and always, to
show runs the marts do not know yet: running, aborted).

A file says ``state``: running, completed, stopped (a clean stop: budget, stopping signal,
failed invariant) or aborted (an exception or Ctrl-C in the run; or, read back, a running file
whose process is gone: kill -9, power cut). Set-up steps (features, categories, candidate pool,
tuning) and the closing build are phases like a round's steps, each with its own line.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from python_jobs.faults.tempfiles import remove_stale_temporaries, temporary_path

RUNNING, COMPLETED, STOPPED, ABORTED = "running", "completed", "stopped", "aborted"


def progress_dir(db_path: Path | str) -> Path:
    """Where the runs of `db_path` publish their progress: `<db file>.runs/`."""
    path = Path(db_path)
    return path.with_name(path.name + ".runs")


MARTS_COPY = "latest_marts.duckdb"  # not marts.duckdb: its catalog would clash with the schema


def marts_copy_path(db_path: Path | str) -> Path:
    """The read-only copy of the marts a run refreshes after its builds (round builds at most every 20 s)."""
    return progress_dir(db_path) / MARTS_COPY


def publish_marts(con: Any, db_path: Path | str | None) -> float:
    """Copy every relation of the marts schema into `<db>.runs/latest_marts.duckdb` (a new file renamed
    into place), so readers can query the marts while the run holds the warehouse. Returns the
    seconds it took (the marts are small next to the raw and feature tables)."""
    if db_path is None:
        return 0.0
    started = time.perf_counter()
    target = marts_copy_path(db_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(target, ".duckdb")
    temporary.unlink(missing_ok=True)
    names = [row[0] for row in con.execute(
        "select table_name from information_schema.tables where table_schema = 'marts' "
        "and table_catalog = current_database() order by table_name").fetchall()]
    try:
        con.execute(f"attach '{temporary}' as karl_marts_copy")
        try:
            con.execute("create schema karl_marts_copy.marts")
            for name in names:
                con.execute(f'create table karl_marts_copy.marts."{name}" as select * from marts."{name}"')
        finally:
            con.execute("detach karl_marts_copy")
        os.replace(temporary, target)
    except BaseException:
        _discard(temporary, temporary.with_name(temporary.name + ".wal"))
        raise
    return time.perf_counter() - started


def _discard(*paths: Path) -> None:
    """Remove a failed write's temporary files (best effort: the error that got here matters more)."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Step:
    phase: str  # "set-up", "round 3", "closing"
    step: str  # features | categories | candidates | tune | train | select | annotate | build | evaluate
    seconds: float
    completed_at: str


@dataclass
class RunSnapshot:
    run_id: str
    strategy: str = ""
    annotator: str = ""
    seed: int = 0
    rounds: int = 0
    pid: int = 0
    state: str = RUNNING
    started_at: str = ""
    updated_at: str = ""
    current: str = ""  # the phase and step under way, e.g. "round 2: annotate"
    current_since: str = ""
    last_round_evaluated: int | None = None
    id_macro_f1: float | None = None
    ood_macro_f1: float | None = None
    n_accepted_labels: int = 0
    spend_usd: float = 0.0
    message: str = ""  # why it stopped or aborted
    steps: list[Step] = field(default_factory=list)

    @classmethod
    def from_dict(cls, value: dict) -> "RunSnapshot":
        steps = [Step(**step) for step in value.pop("steps", [])]
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in value.items() if k in known}, steps=steps)

    @property
    def effective_state(self) -> str:
        """A running file whose process is gone is an aborted run (killed without a chance to say)."""
        if self.state == RUNNING and self.pid and not _alive(self.pid):
            return ABORTED
        return self.state


Emit = Callable[..., None]  # emit(message, event=..., **fields): cli.output.Output.info, or a list's append


class RunProgress:
    """The run's side: one line per phase start/end through `emit`, the JSON after every step.

    `emit(message, event=..., run_id=..., phase=..., step=..., seconds=...)` is the CLI's output
    (text, silent under --quiet, or a JSON line). Timing starts at construction, so the first
    line appears in the run's first second, before any set-up work."""

    def __init__(self, db_path: Path | str | None, snapshot: RunSnapshot, emit: Emit | None = None) -> None:
        self.db_path = db_path
        self.path = progress_dir(db_path) / f"{snapshot.run_id}.json" if db_path else None
        self.snapshot = snapshot
        self.snapshot.pid = os.getpid()
        self.snapshot.started_at = self.snapshot.started_at or _now()
        self.snapshot.state = RUNNING
        self.emit = emit or (lambda *_args, **_fields: None)
        if self.path is not None:
            remove_stale_temporaries(self.path.parent)  # left by a run killed mid-write
        self._t0 = time.perf_counter()
        self._step_started = self._t0
        self.publish()

    def _elapsed(self) -> str:
        return f"[{time.perf_counter() - self._t0:6.1f}s]"

    def begin(self, phase: str, step: str, say: bool = True) -> None:
        self.snapshot.current = f"{phase}: {step}"
        self.snapshot.current_since = _now()
        self._step_started = time.perf_counter()
        if say:
            self.emit(f"{self._elapsed()} {phase}: {step} …", event="step_started",
                      run_id=self.snapshot.run_id, phase=phase, step=step)
        self.publish()

    def end(self, phase: str, step: str, seconds: float | None = None, say: bool = True, detail: str = "") -> None:
        seconds = time.perf_counter() - self._step_started if seconds is None else seconds
        self.snapshot.steps.append(Step(phase, step, round(seconds, 3), _now()))
        self.snapshot.current = ""
        if say:
            self.emit(f"{self._elapsed()} {phase}: {step} done in {seconds:.1f} s{detail}", event="step_done",
                      run_id=self.snapshot.run_id, phase=phase, step=step, seconds=round(seconds, 3))
        self.publish()

    def evaluated(self, round_index: int, metrics: dict, n_accepted_labels: int | None = None,
                  spend_usd: float | None = None) -> None:
        self.snapshot.last_round_evaluated = round_index
        self.snapshot.id_macro_f1 = _float(metrics.get("id_macro_f1"))
        self.snapshot.ood_macro_f1 = _float(metrics.get("ood_macro_f1"))
        if n_accepted_labels is not None:
            self.snapshot.n_accepted_labels = int(n_accepted_labels)
        if spend_usd is not None:
            self.snapshot.spend_usd = float(spend_usd)
        self.publish()

    @contextmanager
    def phase(self, phase: str, step: str, say: bool = True) -> Iterator[None]:
        """begin ... end around a block (end only when the block completes)."""
        self.begin(phase, step, say)
        yield
        self.end(phase, step, say=say)

    def finish(self, state: str, message: str = "") -> None:
        self.snapshot.state = state
        self.snapshot.message = message
        self.snapshot.current = ""
        self.publish()

    def publish(self) -> None:
        if self.path is None:
            return
        self.snapshot.updated_at = _now()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = temporary_path(self.path)
        try:
            temporary.write_text(json.dumps(asdict(self.snapshot), indent=1), encoding="utf-8")
            os.replace(temporary, self.path)
        except BaseException:
            _discard(temporary)
            raise


def _float(value: object) -> float | None:
    try:
        return None if value is None else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def read_snapshots(db_path: Path | str) -> list[RunSnapshot]:
    """Every run's published progress for `db_path`, oldest first; unreadable files are skipped
    (a reader never blocks a run)."""
    folder = progress_dir(db_path)
    if not folder.is_dir():
        return []
    snapshots = []
    for path in sorted(folder.glob("*.json")):
        try:
            snapshots.append(RunSnapshot.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(snapshots, key=lambda s: (s.started_at, s.run_id))
