"""The built warehouse the research scripts read (KARL_DUCKDB_PATH), or one clear message."""

from __future__ import annotations

import sys

import duckdb

from python_jobs.errors import KarlError
from python_jobs.warehouse.connection import connect, default_db_path, require_marts


def open_built_warehouse() -> duckdb.DuckDBPyConnection:
    """Read-write: a feature set's item vectors are computed and stored on first use
    (raw.item_vectors, raw.item_sparse_vectors), as a run's are, so a warehouse fresh from
    `karl build` works (read-only, the first script died storing char13's vectors). Exits with a
    message when the file is missing, locked or not built."""
    path = default_db_path()
    if not path.exists():
        sys.exit(f"no warehouse at {path}: set KARL_DUCKDB_PATH to a built warehouse (karl ingest fbl, karl build)")
    try:
        con = connect(path)
        require_marts(con, "fct_human_labels", "fct_eval_sets", "dim_items")
    except KarlError as error:
        sys.exit(str(error))
    return con
