"""Raw rows, from the DuckDB journal into another engine's raw tables: a run's (issue 16), an
ingest's, or every raw table (`karl --engine spark ingest sync`).

On `karl --engine spark run` the DuckDB file stays the driver's journal: the loop's bookkeeping
SQL commits there in milliseconds, and the kill -9 / resume guarantees rest on its primary keys
(a call is recorded before anything else happens; a resumed run sends only the missing calls).
What Spark needs is the result: after every step (and when the run ends or resumes) the
orchestrator publishes what the run added since, with `RawMirror.publish()`: the run's rows of
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
failed. Shared tables a run fills but does not own (`SHARED_TABLES`: item vectors, categories,
the recorded model) are published once, when the run closes (spark/run_publishing.py); `karl
--engine spark ingest sync` publishes them with every other raw table (`SYNCED_TABLES`).

An ingest's rows (`INGEST_TABLES`) are mirrored by batch: an ingest commits a batch whole in
DuckDB, and one append per table carries a batch whole to the target, so a batch id the target
holds in a table is all of that batch there. `raw.ingest_batches` goes last.
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
class MirroredTable:
    """A raw table published to another engine: the key whose values the target holds once
    published (a row's key, or a batch id for tables an ingest writes whole), and the condition a
    row must meet to be published (None: every row)."""

    name: str
    key: tuple[str, ...]
    final: str | None = None


# Every raw table the loop writes for a run, in publishing order (run_steps last).
RUN_TABLES: tuple[MirroredTable, ...] = (
    MirroredTable("runs", ("run_id",)),
    MirroredTable("run_artifacts", ("run_id", "name")),
    MirroredTable("bag_members", ("run_id", "round_index", "member_index", "relation_class")),
    MirroredTable("pool_predictions", ("run_id", "round_index", "pair_key")),
    MirroredTable("selections", ("run_id", "round_index", "pair_key")),
    MirroredTable("llm_call_intents", ("call_id",)),
    MirroredTable("llm_calls", ("call_id",)),
    MirroredTable("llm_batches", ("batch_key",), final="status in ('recorded', 'failed')"),
    MirroredTable("round_metrics", ("run_id", "round_index")),
    MirroredTable("run_steps", ("run_id", "round_index", "step")),
)

# Every raw table an ingest writes, by batch, in publishing order (ingest_batches last).
INGEST_TABLES: tuple[MirroredTable, ...] = (
    MirroredTable("fbl_judgements", ("batch_id",)),
    MirroredTable("labelled_judgements", ("batch_id",)),
    MirroredTable("catalog_items", ("batch_id",)),
    MirroredTable("basket_lines", ("batch_id",)),
    MirroredTable("human_reviews", ("batch_id",)),
    MirroredTable("quarantine", ("batch_id",)),
    MirroredTable("gx_validation_results", ("validation_id",)),
    MirroredTable("ingest_retractions", ("batch_id",)),
    MirroredTable("ingest_batches", ("batch_id",)),
)

# Raw tables shared by runs and commands (features, categories, the judge, `karl predict`).
SHARED_TABLES: tuple[MirroredTable, ...] = (
    MirroredTable("item_vectors", ("feature_set", "item_id")),
    MirroredTable("item_sparse_vectors", ("feature_set", "item_id")),
    MirroredTable("item_categories", ("category_set", "item_id")),
    MirroredTable("judge_runs", ("judge_id",)),
    MirroredTable("judge_samples", ("judge_id", "pair_key")),
    MirroredTable("model_versions", ("model_version",)),
    MirroredTable("model_training_labels", ("model_version", "training_label_id")),
    MirroredTable("pair_predictions", ("model_version", "pair_key")),
)

# Every raw table: what `karl --engine spark ingest sync` publishes.
SYNCED_TABLES: tuple[MirroredTable, ...] = INGEST_TABLES + SHARED_TABLES + RUN_TABLES


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


class RawMirror:
    """Publishes rows from the DuckDB journal (`con`) to `target` (a Spark warehouse): one run's
    rows of `tables` when `run_id` is given (the tables have a run_id column), else all their rows."""

    def __init__(self, con: duckdb.DuckDBPyConnection, target: Warehouse, run_id: str | None,
                 tables: tuple[MirroredTable, ...] = RUN_TABLES) -> None:
        self.con = con
        self.target = target
        self.run_id = run_id
        self.tables = tables
        # The keys the target holds (of this run's rows, given a run), per table (None: read them from it).
        self._published: dict[str, pa.Table] | None = None

    def _target_keys(self) -> dict[str, pa.Table]:
        if self._published is None:
            self._published = {
                table.name: self.target.query_arrow(
                    f"select distinct {', '.join(table.key)} from raw.{table.name}{self._scope()}")
                for table in self.tables}
        return self._published

    def _scope(self) -> str:
        return "" if self.run_id is None else f" where run_id = {_literal(self.run_id)}"

    def unpublished(self, table: MirroredTable) -> pa.Table:
        """The rows of `table` in the journal (the run's, given a run) whose key the target does not hold yet."""
        published = self._target_keys()[table.name]
        conditions = ([] if self.run_id is None else [f"t.run_id = {_literal(self.run_id)}"]) + (
            [f"({table.final})"] if table.final else [])
        where = f" where {' and '.join(conditions)}" if conditions else ""
        keys = ", ".join(quote_identifier(column) for column in table.key)
        cursor = self.con.cursor()  # register() needs a cursor without an unfinished result
        try:
            cursor.register("_karl_published_keys", published)
            return arrow_table(cursor.execute(
                f"select t.* from raw.{table.name} as t anti join _karl_published_keys using ({keys})"
                f"{where} order by {keys}"))
        finally:
            cursor.close()

    def publish(self) -> PublishReport:
        """Append to the target every row (of the run) it lacks; returns the rows appended per table."""
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
