"""DuckDB results as arrow, on duckdb 1.x and 2.x: a whole result, or a stream of batches."""

from __future__ import annotations

import warnings

import duckdb
import pyarrow as pa


def arrow_table(result: duckdb.DuckDBPyConnection) -> pa.Table:
    """The whole result (a connection after execute) as an arrow table: duckdb 1.x names the
    method fetch_arrow_table, 2.x to_arrow_table (and warns about an extra copy, harmless here)."""
    fetch = getattr(result, "to_arrow_table", None) or getattr(result, "fetch_arrow_table")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fetch()


def arrow_batches(con: duckdb.DuckDBPyConnection, sql: str, params: list | None, rows: int) -> pa.RecordBatchReader:
    """Stream a query as record batches of `rows` rows.

    Through a relation (con.sql), not a DB-API result: on duckdb 2.x the latter copies every row
    before the first batch, which would make memory grow with the pool."""
    relation = con.sql(sql, params=params or None)
    reader = getattr(relation, "to_arrow_reader", None)
    if reader is not None:
        return reader(rows)
    return relation.fetch_record_batch(rows)
