"""Versions of catalogue items: a re-ingested catalogue adds a row only for what changed.

raw.catalog_items is keyed (catalog, item_id, batch_id): the same item from a later batch is a
new version when its title or category path differs from the latest live version (a batch not
retracted by `karl ingest undo`); stg_catalog__items serves the latest. Unchanged rows land
nothing, so the summary can say exactly what the new file changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

CONTENT_COLUMNS = ["title", "category_l1", "category_l2", "category_l3"]


@dataclass(frozen=True)
class VersionSplit:
    rows: pd.DataFrame  # the rows to land: new items and changed ones
    new: int
    changed: int
    unchanged: int

    def details(self) -> dict[str, int]:
        return {"new": self.new, "changed (new version)": self.changed, "unchanged": self.unchanged}


def split_versions(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> VersionSplit:
    """`frame` (raw.catalog_items columns) split against the latest live version of each item."""
    if frame.empty:
        return VersionSplit(frame, 0, 0, 0)
    incoming = frame.assign(_karl_position=range(len(frame)))
    con.register("_karl_incoming", incoming)
    try:
        status = [row[0] for row in con.execute("""
            with latest as (
                select catalog, item_id, title, category_l1, category_l2, category_l3
                from raw.catalog_items
                where batch_id not in (select batch_id from raw.ingest_retractions)
                qualify row_number() over (
                    partition by catalog, item_id order by ingested_at desc, batch_id desc) = 1
            )
            select
                case
                    when latest.item_id is null then 'new'
                    when incoming.title is not distinct from latest.title
                        and incoming.category_l1 is not distinct from latest.category_l1
                        and incoming.category_l2 is not distinct from latest.category_l2
                        and incoming.category_l3 is not distinct from latest.category_l3 then 'unchanged'
                    else 'changed'
                end
            from _karl_incoming as incoming
            left join latest on latest.catalog = incoming.catalog and latest.item_id = incoming.item_id
            order by incoming._karl_position
        """).fetchall()]
    finally:
        con.unregister("_karl_incoming")
    labels = pd.Series(status, index=frame.index)
    return VersionSplit(frame[labels != "unchanged"], int((labels == "new").sum()),
                        int((labels == "changed").sum()), int((labels == "unchanged").sum()))
