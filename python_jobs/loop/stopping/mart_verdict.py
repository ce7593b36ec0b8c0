"""The default stopping rule of `karl run --until-stable` (`--stop-rule signal`): read
marts.rpt_run_stopping_signal.

The rule itself lives in SQL (models/marts/reporting/rpt_run_stopping_signal.sql, thresholds
as dbt vars) so the report, `karl status` and the loop all see one verdict.
"""

from __future__ import annotations

import duckdb

SIGNAL_RELATION = "marts.rpt_run_stopping_signal"


def should_stop(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[bool, str]:
    """(stop?, why) for a run after the last `dbt build`; (False, reason) when there is no verdict yet."""
    try:
        row = con.execute(
            f"select should_stop, stop_reason from {SIGNAL_RELATION} where run_id = ?", [run_id]
        ).fetchone()
    except duckdb.CatalogException:
        return False, f"{SIGNAL_RELATION} is not built yet: no stopping verdict"
    if row is None:
        return False, f"no evaluated rounds for run {run_id!r} yet"
    return bool(row[0]), str(row[1])
