"""One engine choice, one flow: with `--engine spark` the DuckDB file stays the journal every
command writes first, and Spark's raw tables follow it.

- `karl --engine spark ingest ...` publishes the batch it loaded (`INGEST_TABLES`, by batch id);
- `karl --engine spark ingest sync` publishes whatever DuckDB holds and Spark lacks, in every raw
  table (`SYNCED_TABLES`): the way in for a warehouse that existed before it used Spark;
- `karl --engine spark build` refuses, in one line, while a raw table on Spark holds fewer rows
  than DuckDB's: a build over tables that are behind passes its tests on rows that are not all
  there, and the run's closing build then fails on what is missing.

Publishing is `warehouse/raw_mirror.RawMirror`'s anti-join on each table's key, so running any of
these twice appends nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from python_jobs.errors import KarlError
from python_jobs.warehouse.connection import connect
from python_jobs.warehouse.engine import Warehouse
from python_jobs.warehouse.raw_mirror import (
    SYNCED_TABLES,
    MirroredTable,
    PublishReport,
    RawMirror,
)

SYNC_COMMAND = "karl --engine spark ingest sync"


class SparkBehindError(KarlError):
    """Spark's raw tables hold fewer rows than the DuckDB journal's."""


@dataclass(frozen=True)
class TableLag:
    """A raw table that Spark holds fewer rows of than DuckDB."""

    name: str
    duckdb_rows: int
    spark_rows: int


def publish(con: duckdb.DuckDBPyConnection, spark: Warehouse,
            tables: tuple[MirroredTable, ...] = SYNCED_TABLES) -> PublishReport:
    """Append to Spark every row of `tables` the DuckDB journal holds and Spark lacks."""
    return RawMirror(con, spark, None, tables).publish()


def _duckdb_counts(db_path: Path) -> dict[str, int]:
    con = connect(db_path, read_only=True)  # a lock or a file that is not a warehouse: one message
    try:
        present = {name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'").fetchall()}
        return {table.name: con.execute(f"select count(*) from raw.{table.name}").fetchone()[0]
                for table in SYNCED_TABLES if table.name in present}
    finally:
        con.close()


def lagging_tables(db_path: Path, spark: Warehouse) -> list[TableLag]:
    """The raw tables whose Spark copy holds fewer rows than the DuckDB file's (only tables with
    rows in DuckDB are counted on Spark)."""
    lags = []
    for name, duckdb_rows in _duckdb_counts(db_path).items():
        if duckdb_rows == 0:
            continue
        counted = spark.query_arrow(f"select count(*) as n from raw.{name}")
        spark_rows = int(counted.column("n")[0].as_py())
        if spark_rows < duckdb_rows:
            lags.append(TableLag(name, duckdb_rows, spark_rows))
    return lags


def refuse_when_behind(db_path: Path, spark: Warehouse) -> None:
    """Raise SparkBehindError naming the tables, when Spark's raw tables are behind the DuckDB
    file's; a missing DuckDB file (a Spark-only warehouse) has nothing to compare."""
    if not db_path.is_file():
        return
    lags = lagging_tables(db_path, spark)
    if lags:
        shown = ", ".join(f"raw.{lag.name} {lag.spark_rows:,} of {lag.duckdb_rows:,} rows" for lag in lags[:4])
        more = f" and {len(lags) - 4} more" if len(lags) > 4 else ""
        raise SparkBehindError(
            f"Spark's raw tables are behind the DuckDB warehouse {db_path} ({shown}{more}): run "
            f"`{SYNC_COMMAND}` first, then build again.")
