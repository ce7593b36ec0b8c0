"""The warehouse: the one DuckDB file, its raw schema, and dbt run in-process against it."""

from python_jobs.warehouse.connection import (
    PROJECT_DIR,
    MartsMissingError,
    WarehouseLockedError,
    connect,
    connection,
    default_db_path,
    insert_rows,
    require_marts,
)
from python_jobs.warehouse.dbt_runner import (
    PRODUCTION_BUILD_ARGS,
    DbtFailedError,
    DbtResult,
    run_dbt,
)

__all__ = [
    "PROJECT_DIR", "PRODUCTION_BUILD_ARGS", "DbtFailedError", "DbtResult", "MartsMissingError",
    "WarehouseLockedError", "connect", "connection", "default_db_path", "insert_rows", "require_marts", "run_dbt",
]
