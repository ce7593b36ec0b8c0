"""One warehouse interface for the Python jobs, with a DuckDB and a Spark implementation.

What a job needs of the warehouse is small: read a relation (a dbt view or table) as Arrow, append
Arrow rows to a raw table, and run dbt with the engine's target. `Warehouse` is that protocol;
`DuckDBWarehouse` wraps the one DuckDB connection (warehouse/connection.py, dbt_runner.py) and
`python_jobs.spark.warehouse.SparkWarehouse` a SparkSession. `open_warehouse(settings)` picks one
from `config.EngineSettings` (`karl --engine`, `KARL_ENGINE`).

The loop's bookkeeping SQL still talks to DuckDB directly (its ~150 statements are DuckDB SQL);
the interface is what the steps whose cost grows with the catalogue go through, what publishes a
run's rows to Spark (raw_mirror.py), and what a job written for both engines uses. Relations are named as dbt names them on both engines
(`marts.fct_candidate_pairs`, `raw.selections`): the schemas have the same names on Spark.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

import duckdb
import pyarrow as pa

from python_jobs.config import EngineSettings
from python_jobs.warehouse.arrow import arrow_table
from python_jobs.warehouse.connection import connect, default_db_path
from python_jobs.warehouse.dbt_runner import DbtResult, run_dbt
from python_jobs.warehouse.identifiers import relation_sql


@runtime_checkable
class Warehouse(Protocol):
    """What the Python jobs need of a warehouse engine."""

    name: str

    def read_arrow(self, relation: str, columns: Sequence[str] | None = None) -> pa.Table:
        """A relation (schema.name) as an Arrow table, with these columns (default: all)."""
        ...

    def query_arrow(self, sql: str) -> pa.Table:
        """A query in the engine's own SQL dialect, as an Arrow table."""
        ...

    def append_arrow(self, table: str, rows: pa.Table) -> int:
        """Append rows to a raw table, matching columns by name (columns the rows lack are null);
        returns the rows appended."""
        ...

    def has_relation(self, relation: str) -> bool:
        """Whether the warehouse holds the relation (schema.name): a table or a view."""
        ...

    def run_dbt(self, args: list[str], dbt_vars: dict[str, object] | None = None,
                raise_on_failure: bool = True, quiet: bool = True, repeated: bool = False) -> DbtResult:
        """dbt in-process with the engine's target."""
        ...

    def close(self) -> None:
        ...


class DuckDBWarehouse:
    """The DuckDB engine: the one warehouse file and dbt-duckdb in-process."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection, db_path: Path | str | None = None,
                 target: str | None = None) -> None:
        self.con = con
        self.db_path = Path(db_path) if db_path else default_db_path()
        self.target = target

    def read_arrow(self, relation: str, columns: Sequence[str] | None = None) -> pa.Table:
        return self.query_arrow(relation_sql(relation, columns))

    def query_arrow(self, sql: str) -> pa.Table:
        return arrow_table(self.con.execute(sql))

    def append_arrow(self, table: str, rows: pa.Table) -> int:
        if not rows.num_rows:
            return 0
        columns = ", ".join(f'"{name}"' for name in rows.column_names)
        # A cursor of its own: duckdb 2 refuses register() on a connection holding an unfinished result.
        cursor = self.con.cursor()
        try:
            cursor.register("_karl_append_arrow", rows)
            cursor.execute(f"insert into {table} ({columns}) select {columns} from _karl_append_arrow").fetchall()
        finally:
            cursor.close()
        return rows.num_rows

    def has_relation(self, relation: str) -> bool:
        schema, _, name = relation.rpartition(".")
        row = self.con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ? "
            "and table_catalog = current_database()", [schema or "main", name]).fetchone()
        return bool(row[0])

    def run_dbt(self, args: list[str], dbt_vars: dict[str, object] | None = None,
                raise_on_failure: bool = True, quiet: bool = True, repeated: bool = False) -> DbtResult:
        extra = {"target": self.target} if self.target else {}
        return run_dbt(args, db_path=self.db_path, dbt_vars=dbt_vars, raise_on_failure=raise_on_failure,
                       quiet=quiet, repeated=repeated, **extra)

    def close(self) -> None:
        self.con.close()


@contextmanager
def open_warehouse(settings: EngineSettings, db_path: Path | str | None = None,
                   read_only: bool = False) -> Iterator[Warehouse]:
    """`with open_warehouse(settings) as wh:` the engine `settings` name, closed however the block
    ends. DuckDB: the file (``db_path``, default $KARL_DUCKDB_PATH); Spark: the process's session
    (spark/session.py), whose raw tables are created when missing."""
    if settings.engine == "spark":
        from python_jobs.spark.warehouse import SparkWarehouse

        engine: Warehouse = SparkWarehouse.open(settings)
    else:
        engine = DuckDBWarehouse(connect(db_path, read_only=read_only), db_path, settings.target)
    try:
        yield engine
    finally:
        engine.close()
