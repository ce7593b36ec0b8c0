"""karl's raw tables on Spark: create them, and copy them over from a DuckDB warehouse file.

`ensure_raw_tables` creates them empty; `load_raw_from_duckdb` replaces tables by the DuckDB file's
rows (through Arrow, in batches; `karl --engine spark ingest sync --replace TABLE`). Day to day the
rows arrive by `spark/raw_sync.py`'s appends, so that `dbt build --target spark` reads the sources
DuckDB's build reads. The Spark column types are not written twice:
they come from raw_schema.RAW_TABLES, created in an in-memory DuckDB and read as an Arrow schema.
Spark tables have no primary keys; as on DuckDB, writers keep raw append-only and idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from python_jobs.errors import KarlError
from python_jobs.spark.session import spark_session
from python_jobs.warehouse.arrow import arrow_batches, arrow_table
from python_jobs.warehouse.raw_schema import RAW_TABLES, create_raw_tables

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import SparkSession

RAW_SCHEMA = "raw"
# Arrow batches shipped to the JVM at a time: ~30-60 MB for the widest raw tables.
BATCH_ROWS = 250_000


class UnknownRawTableError(KarlError):
    """A table name that raw_schema.RAW_TABLES does not define."""


@dataclass(frozen=True)
class LoadReport:
    """Rows copied per raw table, and the wall time of the copy."""

    rows: dict[str, int]
    seconds: float


def raw_arrow_schemas() -> dict[str, pa.Schema]:
    """The Arrow schema of every raw table, as DuckDB creates it from RAW_TABLES."""
    con = duckdb.connect(":memory:")
    try:
        create_raw_tables(con)
        return {
            name: arrow_table(con.execute(f"select * from {RAW_SCHEMA}.{name} limit 0")).schema
            for name in RAW_TABLES
        }
    finally:
        con.close()


def _checked(tables: Iterable[str] | None) -> list[str]:
    names = list(tables) if tables is not None else list(RAW_TABLES)
    unknown = sorted(set(names) - set(RAW_TABLES))
    if unknown:
        raise UnknownRawTableError(f"Not raw tables of karl: {', '.join(unknown)} (see raw_schema.py).")
    return names


def _table_exists(spark: SparkSession, name: str) -> bool:
    return bool(spark.catalog.tableExists(f"{RAW_SCHEMA}.{name}"))


def ensure_raw_tables(spark: SparkSession | None = None, tables: Iterable[str] | None = None) -> list[str]:
    """Create the `raw` database and every missing raw table (empty); return the tables created."""
    spark = spark or spark_session()
    spark.sql(f"create database if not exists {RAW_SCHEMA}")
    schemas = raw_arrow_schemas()
    created = []
    for name in _checked(tables):
        if _table_exists(spark, name):
            continue
        empty = spark.createDataFrame(schemas[name].empty_table())
        empty.write.format("parquet").saveAsTable(f"{RAW_SCHEMA}.{name}")
        created.append(name)
    return created


def append_arrow(spark: SparkSession, name: str, rows: pa.Table) -> int:
    """Append an Arrow table to `raw.<name>` (columns matched by name); return the rows added."""
    _checked([name])
    if rows.num_rows == 0:
        return 0
    columns = [field.name for field in raw_arrow_schemas()[name]]
    frame = spark.createDataFrame(rows.select(columns))
    frame.write.insertInto(f"{RAW_SCHEMA}.{name}", overwrite=False)
    return rows.num_rows


def load_raw_from_duckdb(
    db_path: Path | str,
    spark: SparkSession | None = None,
    tables: Iterable[str] | None = None,
) -> LoadReport:
    """Replace Spark's `raw.<table>` by the rows of the DuckDB file's `raw.<table>`, per table.

    The DuckDB file is opened read-only (a running karl process holding it makes this fail with
    DuckDB's lock error). Tables missing in an older file are created empty on Spark.
    """
    started = time.perf_counter()
    spark = spark or spark_session()
    names = _checked(tables)
    schemas = raw_arrow_schemas()
    spark.sql(f"create database if not exists {RAW_SCHEMA}")
    rows: dict[str, int] = {}
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        present = {
            table for (table,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [RAW_SCHEMA]
            ).fetchall()
        }
        for name in names:
            target = f"{RAW_SCHEMA}.{name}"
            spark.sql(f"drop table if exists {target}")
            spark.createDataFrame(schemas[name].empty_table()).write.format("parquet").saveAsTable(target)
            rows[name] = 0
            if name not in present:
                continue
            columns = ", ".join(f'"{field.name}"' for field in schemas[name])
            reader = arrow_batches(con, f"select {columns} from {target}", None, BATCH_ROWS)
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                table = pa.Table.from_batches([batch]).cast(schemas[name])
                spark.createDataFrame(table).write.insertInto(target, overwrite=False)
                rows[name] += batch.num_rows
    finally:
        con.close()
    return LoadReport(rows=rows, seconds=time.perf_counter() - started)
