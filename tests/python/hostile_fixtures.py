"""Driving `karl` as a hostile user would: through the CLI, asserting a message and no traceback.

`karl(...)` runs one command in-process with typer's CliRunner (great-expectations is imported
once per test session, so an ingest costs ~0.2 s instead of ~9 s in a fresh process) and fails
the test when anything but a clean exit (a message and exit 0/1/2) came out.
`raw_consistency(db)` states what "nothing half loaded" means for the raw schema.
"""

from __future__ import annotations

import subprocess
import sys
import time
import traceback
from pathlib import Path

import duckdb
from click.testing import Result
from typer.testing import CliRunner

from python_jobs.cli import app

runner = CliRunner()

# Raw tables an ingest writes, with the batch id column that ties each row to raw.ingest_batches.
INGEST_TABLES = ("labelled_judgements", "catalog_items", "basket_lines", "human_reviews", "quarantine")


def karl(*args: str | Path, expect: int | None = None) -> Result:
    """Run `karl ARGS`; fail on a traceback or an unexpected exception; check the exit code."""
    result = runner.invoke(app, [str(arg) for arg in args], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        details = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"karl {' '.join(map(str, args))} raised instead of answering:\n{result.output}\n{details}")
    assert "Traceback" not in result.output, result.output
    if expect is not None:
        assert result.exit_code == expect, f"exit {result.exit_code}, expected {expect}:\n{result.output}"
    return result


def one_line(output: str) -> str:
    """The output with rich's line wrapping undone (messages are matched as one line)."""
    return " ".join(output.split())


def raw_consistency(db_path: Path) -> list[str]:
    """Problems that would mean a batch was half loaded: raw rows whose batch has no record, or a
    batch record whose row count disagrees with the rows it landed. Empty when consistent."""
    if not db_path.exists():
        return []
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        tables = {name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'").fetchall()}
        if "ingest_batches" not in tables:
            return []
        problems = []
        for table in INGEST_TABLES:
            if table not in tables:
                continue
            orphans = con.execute(f"""
                select count(*) from raw.{table} as t
                where not exists (select 1 from raw.ingest_batches as b where b.batch_id = t.batch_id)
            """).fetchone()[0]
            if orphans:
                problems.append(f"raw.{table}: {orphans} rows of no recorded batch")
        counted = " union all ".join(
            f"select batch_id, count(*) as n from raw.{table} group by batch_id"
            for table in INGEST_TABLES if table in tables and table not in ("quarantine", "basket_lines"))
        mismatched = con.execute(f"""
            with landed as (select batch_id, sum(n) as n from ({counted}) group by batch_id)
            select b.batch_id, b.rows_loaded, coalesce(landed.n, 0)
            from raw.ingest_batches as b left join landed on landed.batch_id = b.batch_id
            where b.source <> 'completejourney' and b.rows_loaded > coalesce(landed.n, 0)
        """).fetchall()
        problems += [f"batch {batch[:12]} says {said} rows loaded, raw holds {held}" for batch, said, held in mismatched]
        return problems
    finally:
        con.close()


class LockHolder:
    """Another process holding the warehouse's write lock (DuckDB locks per process)."""

    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LockHolder:
        # Holds the lock until the test kills it (or closes its stdin): no deadline that a loaded
        # machine could outrun while a module's tests use the fixture.
        code = "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()"
        self.process = subprocess.Popen([sys.executable, "-c", code, str(self.db_path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        deadline = time.monotonic() + 30
        while self.process.stdout.readline().strip() != "held":
            assert time.monotonic() < deadline, "the lock holder did not start"
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
