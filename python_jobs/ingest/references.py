"""Reference checks at ingest: a row may only point at what the warehouse already holds.

A review names a pair and its two items; if either item is in no ingested catalogue or labelled dataset,
or the pair was never judged or selected, the review is quarantined here rather than loaded and
left to fail `dbt build` (the relationships test dim_pairs -> dim_items), which wedged the
warehouse (issue 14). Retracted batches (`karl ingest undo`) do not count as holding anything.
Staging repeats the item check as a fallback for rows that reached raw before this check existed.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from python_jobs.warehouse.live_rows import LIVE_LABELLED_JUDGEMENTS

NOT_RETRACTED = "batch_id not in (select batch_id from raw.ingest_retractions)"


def _present(con: duckdb.DuckDBPyConnection, values: set[str], query: str) -> set[str]:
    """The subset of `values` for which `query` (over the registered `_karl_wanted(value)`) finds a row."""
    if not values:
        return set()
    con.register("_karl_wanted", pd.DataFrame({"value": sorted(values)}))
    try:
        return {value for (value,) in con.execute(query).fetchall()}
    finally:
        con.unregister("_karl_wanted")


def known_items(con: duckdb.DuckDBPyConnection, item_ids: set[str]) -> set[str]:
    """The item ids a labelled dataset's judgement or a catalogue row of a live batch names."""
    return _present(con, item_ids, f"""
        select value from _karl_wanted
        where value in (select item_a_id from {LIVE_LABELLED_JUDGEMENTS} as j)
           or value in (select item_b_id from {LIVE_LABELLED_JUDGEMENTS} as j)
           or value in (select item_id from raw.catalog_items where {NOT_RETRACTED})
    """)


def known_pairs(con: duckdb.DuckDBPyConnection, pair_keys: set[str]) -> set[str]:
    """The pair keys a labelled dataset's judgement of a live batch or a run's selection holds (keys built as
    python_jobs.warehouse.keys.pair_key and macros/pair_key.sql build them)."""
    return _present(con, pair_keys, f"""
        select value from _karl_wanted
        where value in (
            select case when item_a_id <= item_b_id then item_a_id || '~' || item_b_id
                        else item_b_id || '~' || item_a_id end
            from {LIVE_LABELLED_JUDGEMENTS} as j)
           or value in (select pair_key from raw.selections)
    """)


def unknown_reference(item_a_id: str, item_b_id: str, pair_key: str,
                      items: set[str], pairs: set[str]) -> str | None:
    """The first reference of a review that the warehouse does not hold, as a quarantine reason."""
    for item_id in (item_a_id, item_b_id):
        if item_id not in items:
            return f"unknown_item: item {item_id} is in no ingested catalogue or labelled dataset"
    if pair_key not in pairs:
        return f"unknown_pair: pair {pair_key} was never judged in a labelled dataset nor selected by a run"
    return None

