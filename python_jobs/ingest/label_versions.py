"""Versions of a labelled dataset, and the items the warehouse already knows.

raw.labelled_judgements is keyed (batch_id, dataset, item_a_id, item_b_id, annotator_slot): a
dataset re-ingested with other rows is a new batch, a new version of the dataset, and staging
serves the latest live version (a batch not retracted by `karl ingest undo`; undo the new one and
the previous version is served again). The summary counts what the new version changes against
the one it replaces, as `karl ingest catalog` does for changed items (catalog_versions.py).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from python_jobs.ingest.common import Batch
from python_jobs.warehouse.live_rows import LIVE_CATALOG_ITEMS, LIVE_LABELLED_JUDGEMENTS

KEY = ["item_a_id", "item_b_id", "annotator_slot"]
CONTENT = ["annotator_id", "raw_label", "label_scheme"]


def known_item_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Items with a title somewhere live: a catalogue, or a labelled dataset's row."""
    rows = con.execute(f"""
        select item_id from {LIVE_CATALOG_ITEMS} as catalog_items
        union select item_a_id from {LIVE_LABELLED_JUDGEMENTS} as j where item_a_title is not null
        union select item_b_id from {LIVE_LABELLED_JUDGEMENTS} as j where item_b_title is not null
    """).fetchall()
    return {row[0] for row in rows}


def live_version(con: duckdb.DuckDBPyConnection, dataset: str) -> pd.DataFrame:
    return con.execute(
        f"select batch_id, {', '.join(KEY + CONTENT)} from {LIVE_LABELLED_JUDGEMENTS} as j where dataset = ?",
        [dataset]).df()


def compare_with_live(con: duckdb.DuckDBPyConnection, dataset: str, frame: pd.DataFrame) -> dict[str, int]:
    """What `frame` changes against the dataset's live version (empty when there is none)."""
    live = live_version(con, dataset)
    if live.empty:
        return {}
    old = {tuple(row[:3]): tuple(row[3:]) for row in live[KEY + CONTENT].itertuples(index=False)}
    new = {tuple(row[:3]): tuple(row[3:]) for row in frame[KEY + CONTENT].itertuples(index=False)}
    changed = sum(1 for key, value in new.items() if key in old and old[key] != value)
    added = sum(1 for key in new if key not in old)
    removed = sum(1 for key in old if key not in new)
    if not (changed or added or removed):
        return {f"same judgements as the live version of {dataset} (batch {live['batch_id'].iloc[0][:12]})": 1}
    return {
        f"new version of {dataset}, replacing batch {live['batch_id'].iloc[0][:12]}": 1,
        "judgements added": added, "judgements changed": changed, "judgements removed": removed,
        "judgements unchanged": len(new) - added - changed,
    }


def with_batch(frame: pd.DataFrame, batch: Batch) -> pd.DataFrame:
    if frame.empty:
        return frame.iloc[0:0]
    frame = frame.copy()
    frame["batch_id"] = batch.batch_id
    frame["ingested_at"] = batch.ingested_at
    return frame
