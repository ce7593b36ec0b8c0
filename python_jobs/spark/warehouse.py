"""The Spark implementation of the warehouse interface (warehouse/engine.py): relations read as
Arrow through Spark SQL, rows appended with `insertInto`, dbt run with the `spark` target on this
process's session (dbt-spark's `method: session` reuses it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from python_jobs.config import EngineSettings
from python_jobs.errors import KarlError
from python_jobs.warehouse.dbt_runner import DbtResult, run_dbt
from python_jobs.warehouse.identifiers import relation_sql

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import DataFrame, SparkSession


class SparkTableMismatchError(KarlError, ValueError):
    """Rows name a column the Spark table lacks (a typo, or a raw table made by an older karl)."""


class SparkWarehouse:
    """The Spark engine: a SparkSession's catalogue (schemas raw, staging, ..., marts as on DuckDB)."""

    name = "spark"

    def __init__(self, session: SparkSession, target: str | None = "spark", stop_on_close: bool = False) -> None:
        self.session = session
        self.target = target
        self.stop_on_close = stop_on_close

    @classmethod
    def open(cls, settings: EngineSettings, stop_on_close: bool = True) -> SparkWarehouse:
        """The process's session (spark/session.py: master, memory and warehouse
        directory from the environment) with every missing raw table created. `stop_on_close`
        stops it at `close` only when this call started it: a session the process already ran
        (a test run's, a Dagster job's) stays up."""
        from python_jobs.spark.loader import ensure_raw_tables
        from python_jobs.spark.session import has_active_spark_session, spark_session

        started_here = not has_active_spark_session()
        session = spark_session()
        ensure_raw_tables(session)
        return cls(session, settings.target, stop_on_close=stop_on_close and started_here)

    def has_relation(self, relation: str) -> bool:
        """Whether the catalogue holds `schema.name` (a table or a view)."""
        return bool(self.session.catalog.tableExists(relation))

    def frame(self, relation: str, columns: Sequence[str] | None = None) -> DataFrame:
        """A relation as a Spark DataFrame, for the Spark jobs (spark/scoring.py, spark/features.py)."""
        return self.session.sql(relation_sql(relation, columns))

    def read_arrow(self, relation: str, columns: Sequence[str] | None = None) -> pa.Table:
        return self.frame(relation, columns).toArrow()

    def query_arrow(self, sql: str) -> pa.Table:
        return self.session.sql(sql).toArrow()

    def append_arrow(self, table: str, rows: pa.Table) -> int:
        """`insertInto` matches columns by position: the rows are put in the table's column order,
        cast to its types, and the columns they lack are null. A column the table does not have
        is an error (a typo would otherwise vanish). The rows are in the driver's memory already:
        one file per append (`coalesce(1)`), not one per core, so a run publishing after every
        step leaves a file per step and table, not two."""
        if not rows.num_rows:
            return 0
        from pyspark.sql import functions as F

        schema = self.session.table(table).schema
        unknown = sorted(set(rows.column_names) - set(schema.names))
        if unknown:
            raise SparkTableMismatchError(
                f"{table} on Spark has no column {unknown[0]!r} (a table made by an older karl?): copy it "
                f"again from DuckDB with `karl --engine spark ingest sync --replace "
                f"{table.rpartition('.')[2]}`.")
        frame = self.session.createDataFrame(rows)
        ordered = [(F.col(field.name) if field.name in rows.column_names else F.lit(None))
                   .cast(field.dataType).alias(field.name) for field in schema.fields]
        frame.select(*ordered).coalesce(1).write.insertInto(table, overwrite=False)
        return rows.num_rows

    def run_dbt(self, args: list[str], dbt_vars: dict[str, object] | None = None,
                raise_on_failure: bool = True, quiet: bool = True, repeated: bool = False) -> DbtResult:
        return run_dbt(args, dbt_vars=dbt_vars, raise_on_failure=raise_on_failure, quiet=quiet,
                       repeated=repeated, target=self.target or "spark")

    def close(self) -> None:
        """Stops the session when this object started it (`open`); a session handed in stays up."""
        if self.stop_on_close:
            self.session.stop()
