"""A run's raw rows, from the DuckDB journal into another engine's raw tables (issue 16).

On `karl --engine spark run` the DuckDB file stays the driver's journal: the loop's bookkeeping
SQL commits there in milliseconds, and the kill -9 / resume guarantees rest on its primary keys
(a call is recorded before anything else happens; a resumed run sends only the missing calls).
What Spark needs is the result: after every step (and when the run ends or resumes) the
orchestrator publishes what the run added since, with `RunMirror.publish()`: the run's rows of
each table of `RUN_TABLES` are read from DuckDB, the keys the target already holds are left out
(an anti-join in DuckDB), and the rest is appended with `Warehouse.append_arrow`.

Spark's parquet tables have no primary keys, so idempotence is this anti-join. A process killed
between the DuckDB commit and the append, or a resumed run, publishes the missing rows at its
next publish, and never a row twice: the keys the target holds are read from it once per
process (one query per table, ~0.3-1 s each on local Spark), then kept in memory as appends
succeed; an append that raises drops them, so the next publish reads them again. `run_steps`
is published last, so a step marked done on the target has its rows there.

Mutable journals reach the target only once final: `llm_batches` rows (the Batch API journal,
updated in place as a batch is submitted, polled and recorded) once their status is recorded or
failed. Shared tables a run fills but does not own (item vectors, categories: keyed by feature or
category set, used by the candidate pool) are not published; `spark/loader.py` copies those.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from python_jobs.warehouse.arrow import arrow_table
from python_jobs.warehouse.engine import Warehouse
from python_jobs.warehouse.identifiers import quote_identifier


@dataclass(frozen=True)
class RunTable:
    """A raw table whose rows belong to one run (a `run_id` column), with the key that makes a
    row unique, and the condition a row must meet to be published (None: every row)."""

    name: str
    key: tuple[str, ...]
    final: str | None = None


# Every raw table the loop writes for a run, in publishing order (run_steps last).
RUN_TABLES: tuple[RunTable, ...] = (
    RunTable("runs", ("run_id",)),
    RunTable("run_artifacts", ("run_id", "name")),
    RunTable("bag_members", ("run_id", "round_index", "member_index", "relation_class")),
    RunTable("pool_predictions", ("run_id", "round_index", "pair_key")),
    RunTable("selections", ("run_id", "round_index", "pair_key")),
    RunTable("llm_call_intents", ("call_id",)),
    RunTable("llm_calls", ("call_id",)),
    RunTable("llm_batches", ("batch_key",), final="status in ('recorded', 'failed')"),
    RunTable("round_metrics", ("run_id", "round_index")),
    RunTable("run_steps", ("run_id", "round_index", "step")),
)


@dataclass(frozen=True)
class PublishReport:
    """Rows appended to the target per table by one publish, and its wall time."""

    rows: dict[str, int]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _literal(value: str) -> str:
    """A string as a SQL literal, the same on DuckDB and Spark SQL (single quotes doubled;
    backslashes doubled too, which Spark reads as escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


class RunMirror:
    """Publishes one run's rows from the DuckDB journal (`con`) to `target` (a Spark warehouse)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, target: Warehouse, run_id: str,
                 tables: tuple[RunTable, ...] = RUN_TABLES) -> None:
        self.con = con
        self.target = target
        self.run_id = run_id
        self.tables = tables
        # The keys of this run's rows the target holds, per table (None: read them from it).
        self._published: dict[str, pa.Table] | None = None

    def _target_keys(self) -> dict[str, pa.Table]:
        if self._published is None:
            self._published = {
                table.name: self.target.query_arrow(
                    f"select {', '.join(table.key)} from raw.{table.name} where run_id = {_literal(self.run_id)}")
                for table in self.tables}
        return self._published

    def unpublished(self, table: RunTable) -> pa.Table:
        """The run's rows of `table` in the journal whose key the target does not hold yet."""
        published = self._target_keys()[table.name]
        condition = f" and ({table.final})" if table.final else ""
        keys = ", ".join(quote_identifier(column) for column in table.key)
        cursor = self.con.cursor()  # register() needs a cursor without an unfinished result
        try:
            cursor.register("_karl_published_keys", published)
            return arrow_table(cursor.execute(
                f"select t.* from raw.{table.name} as t anti join _karl_published_keys using ({keys}) "
                f"where t.run_id = ?{condition} order by {keys}", [self.run_id]))
        finally:
            cursor.close()

    def publish(self) -> PublishReport:
        """Append to the target every row of the run it lacks; returns the rows appended per table."""
        started = time.perf_counter()
        added: dict[str, int] = {}
        for table in self.tables:
            rows = self.unpublished(table)
            if rows.num_rows:
                try:
                    self.target.append_arrow(f"raw.{table.name}", rows)
                except BaseException:
                    self._published = None  # what arrived is unknown: read the target's keys again
                    raise
                published = self._target_keys()
                published[table.name] = pa.concat_tables(
                    [published[table.name], rows.select(list(table.key)).cast(published[table.name].schema)])
            added[table.name] = rows.num_rows
        return PublishReport(rows=added, seconds=time.perf_counter() - started)
