"""The fault suite's tools (its conftest.py registers the fixtures): `karl` as a real process, a
small tmpfs to fill, the warehouses the faults strike (fresh, ingested, built: copies of the
session's templates) and a run that met no fault to compare against. Every test gets its own
warehouse copy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import pytest

KARL = Path(sys.executable).with_name("karl")
# A tiny, deterministic run: one annotated round and the evaluation round, replayed human labels.
RUN_ARGS = ["--rounds", "1", "--budget", "20", "--annotator", "replay", "--tuning-trials", "2",
            "--members", "3", "--workers", "1", "--seed", "0"]
RUN_ID = "fault-run"


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def last_line(self) -> str:
        """The last line karl printed on stderr (the boundary's one line)."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def karl_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "KARL_DBT_TARGET_PATH": str(tmp_path / "dbt_target"), "COLUMNS": "200",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "GX_ANALYTICS_ENABLED": "false"}
    env.pop("KARL_DUCKDB_PATH", None)  # every call names its warehouse with --db
    return env


def karl(tmp_path: Path, *args: object, timeout: float = 600) -> Ran:
    """`karl ARGS` in a process of its own; its exit code and output."""
    done = subprocess.run([str(KARL), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=karl_env(tmp_path), cwd=tmp_path)
    return Ran(done.returncode, done.stdout, done.stderr)


class Started:
    """`karl ARGS` running in the background, stdout and stderr into one log file."""

    def __init__(self, tmp_path: Path, *args: object) -> None:
        self.log = tmp_path / f"karl-{time.monotonic_ns()}.log"
        self._handle = open(self.log, "w")  # noqa: SIM115 - closed by finish()
        self.process = subprocess.Popen([str(KARL), *map(str, args)], stdout=self._handle, stderr=subprocess.STDOUT,
                                        text=True, env=karl_env(tmp_path), cwd=tmp_path)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def finish(self, timeout: float = 600) -> Ran:
        try:
            self.process.wait(timeout=timeout)
        finally:
            self._handle.close()
        return Ran(self.process.returncode, "", self.text())


def assert_one_line(ran: Ran, exit_code: int, *fragments: str) -> str:
    """The user-facing contract: no traceback, the exit code, one line saying the fragments."""
    assert "Traceback" not in ran.output, ran.output[-3000:]
    assert ran.returncode == exit_code, ran.output[-3000:]
    line = ran.last_line()
    for fragment in fragments:
        assert fragment in line, line
    return line


def raw_counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' order by 1").fetchall()]
        return {name: con.execute(f'select count(*) from raw."{name}"').fetchone()[0] for name in tables}
    finally:
        con.close()


ROUND_COLUMNS = ("round_index", "id_macro_f1", "ood_macro_f1", "n_training_labels", "n_added_labels",
                 "n_annotated_pairs", "n_calls", "n_accepted_pairs")


def round_metrics(db: Path, run_id: str = RUN_ID) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"select {', '.join(ROUND_COLUMNS)} from marts.fct_round_metrics where run_id = ? "
                           "order by round_index", [run_id]).fetchall()
    finally:
        con.close()


def run_state(db: Path, run_id: str = RUN_ID) -> dict:
    path = db.with_name(db.name + ".runs") / f"{run_id}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def leftover_temporaries(db: Path) -> list[Path]:
    """Temporary files beside the warehouse or in its .runs folder."""
    folders = [db.parent, db.with_name(db.name + ".runs")]
    return [p for folder in folders if folder.is_dir() for p in folder.iterdir() if ".tmp" in p.name]


# --- a small disk --------------------------------------------------------------------------
class SmallDisk:
    """A tmpfs of `size` MB; `fill(leave)` takes all but `leave` bytes with a filler file,
    `free()` deletes it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler.bin"

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def fill(self, leave: int = 0) -> None:
        size = self.free_bytes() - leave
        if size <= 0:
            return
        with open(self.filler, "ab") as handle:
            try:
                os.posix_fallocate(handle.fileno(), handle.tell(), size)
            except OSError:
                pass  # what could be taken was taken: the disk is full
        # tmpfs may keep a few pages: take them too
        if leave == 0:
            descriptor = os.open(self.root / "filler2.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                while True:
                    os.write(descriptor, b"\0" * 4096)
            except OSError:
                pass  # full
            finally:
                os.close(descriptor)

    def free(self) -> None:
        for path in (self.filler, self.root / "filler2.bin"):
            path.unlink(missing_ok=True)


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A real small file system (tmpfs, 200 MB: the template warehouse, its WAL and the marts copy a
    run publishes need ~100) for disk-full faults."""
    root = tmp_path / "disk"
    root.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(root)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the disk-full faults (needs root): {mounted.stderr.strip()}")
    try:
        yield SmallDisk(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True)


def watch_until(path_state: Callable[[], bool], process: subprocess.Popen, timeout: float = 600) -> bool:
    """Poll until `path_state()` holds (True) or the process ends (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path_state():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    raise TimeoutError("the awaited state never came")


def current_step(db: Path, run_id: str = RUN_ID) -> str:
    try:
        return run_state(db, run_id).get("current", "")
    except (OSError, ValueError):
        return ""  # caught between write and rename: try again


# --- warehouses ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ingested_template(fbl_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with the FBL files ingested and never built."""
    from python_jobs import warehouse
    from python_jobs.ingest.fbl import ingest_fbl

    path = tmp_path_factory.mktemp("ingested") / "ingested.duckdb"
    with warehouse.connection(path) as con:
        ingest_fbl(con, fbl_dir)
    return path


@pytest.fixture(scope="session")
def reference_run(fbl_warehouse_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list]:
    """(raw row counts, round metrics) of the tiny run on the built warehouse, meeting no fault."""
    folder = tmp_path_factory.mktemp("reference_run")
    db = folder / "karl.duckdb"
    shutil.copyfile(fbl_warehouse_template, db)
    ran = karl(folder, "run", *RUN_ARGS, "--run-id", RUN_ID, "--db", db)
    assert ran.returncode == 0, ran.output[-3000:]
    return raw_counts(db), round_metrics(db)


def copy_into(template: Path, folder: Path, name: str = "karl.duckdb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / name
    shutil.copyfile(template, db)
    return db


