"""Access to the one DuckDB file: open it (with a clear error when another process holds it),
create the raw tables, insert rows in one statement.

One process owns the file at a time. Inside that process, dbt-duckdb opens the same path and
DuckDB hands it the already-open database instance, so the orchestrator can keep its connection
while dbt builds.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import psutil
import pyarrow as pa  # imported up front: its first use costs ~0.5 s, not to be paid mid-round

from python_jobs.errors import KarlError
from python_jobs.faults import activity
from python_jobs.warehouse.raw_schema import create_raw_tables

PROJECT_DIR = Path(os.environ.get("KARL_PROJECT_DIR", Path(__file__).resolve().parents[2]))
DEFAULT_DB_RELATIVE = Path("warehouse") / "karl.duckdb"


class WarehouseLockedError(KarlError):
    """Another process holds the DuckDB file; `holder` describes it (pid and command)."""

    def __init__(self, message: str, holder: str = "another process") -> None:
        super().__init__(message)
        self.holder = holder


def default_db_path() -> Path:
    configured = os.environ.get("KARL_DUCKDB_PATH")
    if configured:
        return Path(configured).expanduser().resolve()
    return (PROJECT_DIR / DEFAULT_DB_RELATIVE).resolve()


def _holder_description(message: str) -> str:
    match = re.search(r"PID (\d+)", message)
    if not match:
        return "another process"
    pid = int(match.group(1))
    try:
        process = psutil.Process(pid)
        command = " ".join(process.cmdline()) or process.name()
        return f"process {pid} ({command})"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return f"process {pid}"


def connect(db_path: Path | str | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file; raise WarehouseLockedError naming the holder if it is taken."""
    path = Path(db_path) if db_path else default_db_path()
    activity.note_warehouse(path)
    if read_only and not path.exists():
        raise MartsMissingError(f"there is no warehouse at {path} yet: load data with `karl ingest fbl` "
                                "(or `karl ingest catalog FILE ...`), then run `karl build`")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        text = str(error)
        if "lock" not in text.lower():
            raise
        holder = _holder_description(text)
        raise WarehouseLockedError(
            f"The warehouse {path} is in use by {holder}. "
            "karl lets one process own the DuckDB file at a time: wait for it to finish or stop it, "
            "or point KARL_DUCKDB_PATH at another file.", holder
        ) from error
    if not read_only:
        create_raw_tables(con)
    return con

def database_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file `con` has open (None in memory): what dbt must build into, whatever the default is."""
    (path,) = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    return Path(path) if path else None


@contextmanager
def connection(db_path: Path | str | None = None, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """`with connection(db) as con:` the warehouse, closed however the block ends."""
    con = connect(db_path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list[tuple],
                on_conflict_do_nothing: bool = True) -> None:
    """Insert rows in one statement from an arrow table: `executemany` runs one statement per
    row (~5 ms each on the warehouse), which made a round's 30-50 bookkeeping rows cost ~0.2 s."""
    if not rows:
        return
    frame = pa.Table.from_pylist([dict(zip(columns, row)) for row in rows])
    # A cursor of its own: duckdb 2 refuses register() on a connection holding an unfinished result.
    cursor = con.cursor()
    try:
        cursor.register("_karl_insert_rows", frame)
        cursor.execute(
            f"insert into {table} ({', '.join(columns)}) select {', '.join(columns)} from _karl_insert_rows"
            + (" on conflict do nothing" if on_conflict_do_nothing else "")
        ).fetchall()
    finally:
        cursor.close()


class MartsMissingError(KarlError):
    """A command reads marts that no `karl build` has made yet."""


INGEST_THEN_BUILD = ("this warehouse holds no data yet: load some with `karl ingest fbl` "
                     "(or `karl ingest catalog FILE ...`), then run `karl build`")


def has_ingested(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any ingest batch has landed (a fresh warehouse has the raw tables, empty)."""
    try:
        return con.execute("select count(*) from raw.ingest_batches").fetchone()[0] > 0
    except duckdb.CatalogException:
        return False


def unbuilt_message(con: duckdb.DuckDBPyConnection, missing: str) -> str:
    """What to run when `marts.<missing>` is absent: the ingest too when nothing was ever loaded."""
    if not has_ingested(con):
        return INGEST_THEN_BUILD
    return f"the warehouse has no marts.{missing} yet: run `karl build` first"


def require_marts(con: duckdb.DuckDBPyConnection, *tables: str) -> None:
    """Raise MartsMissingError unless every `marts.<table>` exists (a fresh warehouse has none)."""
    found = {name for (name,) in con.execute(
        "select table_name from information_schema.tables where table_schema = 'marts'").fetchall()}
    missing = [name for name in tables if name not in found]
    if missing:
        raise MartsMissingError(unbuilt_message(con, missing[0]))
