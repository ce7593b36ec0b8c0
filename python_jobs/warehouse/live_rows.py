"""The live rows of the raw tables that ingest versions or retracts, as SQL subqueries for Python
jobs (dbt's staging models do the same for the marts)."""

from __future__ import annotations

# What Python jobs read instead of raw.catalog_items / raw.basket_lines (staging does the same in
# dbt, stg_catalog__items and stg_catalog__basket_lines): rows of batches retracted by `karl ingest
# undo` left out, and of a catalogue item only its latest version (a re-ingest adds a version).
LIVE_CATALOG_ITEMS = """(
    select * from raw.catalog_items
    where batch_id not in (select batch_id from raw.ingest_retractions)
    qualify row_number() over (partition by catalog, item_id order by ingested_at desc, batch_id desc) = 1
)"""
# The judgements of every labelled dataset as staging serves them (stg_karl__labelled_judgements):
# raw.labelled_judgements plus raw.fbl_judgements (rows `karl ingest fbl` landed before the FBL
# files became two labelled datasets), batches retracted left out, the latest batch of a dataset.
LIVE_LABELLED_JUDGEMENTS = """(
    with live as (
        select * from raw.labelled_judgements
        where batch_id not in (select batch_id from raw.ingest_retractions)
    ),
    latest as (
        select dataset, max_by(batch_id, ingested_at) as batch_id from live group by dataset
    )
    select dataset, source_line, item_a_id, item_b_id, item_a_title, item_b_title, item_a_url,
        item_b_url, catalog, annotator_slot, annotator_id, raw_label, label_scheme, batch_id, ingested_at
    from live inner join latest using (dataset, batch_id)
    union all
    select dataset, source_line, item_a_id, item_b_id, item_a_title, item_b_title, item_a_url,
        item_b_url, 'fbl', annotator_slot, annotator_id, raw_label, label_scheme, batch_id, ingested_at
    from raw.fbl_judgements
    where batch_id not in (select batch_id from raw.ingest_retractions)
        and dataset not in (select dataset from latest)
)"""
LIVE_BASKET_LINES = """(
    select * from raw.basket_lines
    where batch_id not in (select batch_id from raw.ingest_retractions)
)"""
