"""A publishing target that dies mid-publish, shared by the run-mirror tests on DuckDB
(tests/python/warehouse/test_raw_mirror.py) and on Spark (tests/python/spark/test_spark_run_mirror.py)."""

from __future__ import annotations

import pyarrow as pa

from python_jobs.warehouse.engine import Warehouse


class ProcessDies(BaseException):
    """The process ends here (kill -9): the DuckDB commit is done, the target's append never happens."""


class DiesBeforeAppending:
    """A warehouse, except that the process dies instead of appending to raw.`table`."""

    def __init__(self, inner: Warehouse, table: str) -> None:
        self.inner, self.table, self.name = inner, table, inner.name

    def query_arrow(self, sql: str) -> pa.Table:
        return self.inner.query_arrow(sql)

    def append_arrow(self, table: str, rows: pa.Table) -> int:
        if table == f"raw.{self.table}":
            raise ProcessDies(table)
        return self.inner.append_arrow(table, rows)

    def has_relation(self, relation: str) -> bool:
        return self.inner.has_relation(relation)
