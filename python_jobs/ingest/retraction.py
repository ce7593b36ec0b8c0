"""`karl ingest undo BATCH_ID`: take an ingest batch back without deleting from raw.

raw stays append-only: the retraction is a row in raw.ingest_retractions, and every staging
model over an ingested table leaves out the rows of retracted batches. After `karl build` the
batch is gone from the marts; its raw rows stay for the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb

from python_jobs.errors import KarlError

MIN_PREFIX = 6


class UnknownBatchError(KarlError):
    """No batch, or more than one, matches what the user typed."""


@dataclass(frozen=True)
class Retraction:
    batch_id: str
    source: str
    source_file: str
    rows_loaded: int
    already_retracted: bool


def find_batch(con: duckdb.DuckDBPyConnection, prefix: str) -> tuple[str, str, str, int]:
    """The one batch whose id starts with `prefix` (as the ingest summary prints it)."""
    prefix = prefix.strip().lower()
    if len(prefix) < MIN_PREFIX:
        raise UnknownBatchError(f"give at least {MIN_PREFIX} characters of the batch id (the ingest summary prints 12)")
    rows = con.execute(
        "select batch_id, source, source_file, rows_loaded from raw.ingest_batches where starts_with(batch_id, ?) "
        "order by batch_id limit 3", [prefix]).fetchall()
    if not rows:
        raise UnknownBatchError(f"no ingest batch starts with {prefix!r} in this warehouse "
                                "(the ingest summary prints each batch's id)")
    if len(rows) > 1:
        raise UnknownBatchError(f"{prefix!r} matches several batches ({', '.join(r[0][:12] for r in rows)}...): "
                                "give more of the id")
    return rows[0]


def retract_batch(con: duckdb.DuckDBPyConnection, prefix: str, reason: str = "karl ingest undo") -> Retraction:
    """Record the retraction of the batch `prefix` names (a second retraction changes nothing)."""
    batch_id, source, source_file, rows_loaded = find_batch(con, prefix)
    inserted = con.execute(
        "insert or ignore into raw.ingest_retractions values (?, ?, ?)",
        [batch_id, reason, datetime.now(timezone.utc).replace(tzinfo=None)]).fetchone()
    return Retraction(batch_id, source, source_file, int(rows_loaded), already_retracted=not (inserted and inserted[0]))
