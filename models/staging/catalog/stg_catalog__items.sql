with

items as (
    select * from {{ source('catalog', 'catalog_items') }}
),

retractions as (
    select * from {{ source('karl_ingest', 'ingest_retractions') }}
),

live_items as (
    select items.*
    from items
    left join retractions
        on items.batch_id = retractions.batch_id
    where retractions.batch_id is null
),

-- A re-ingested catalogue adds a row only for an item whose content changed: the latest live
-- version of each item is the item.
latest as (
    select
        live_items.*,
        count(*) over (partition by live_items.catalog, live_items.item_id) as n_versions,
        row_number() over (
            partition by live_items.catalog, live_items.item_id
            order by live_items.ingested_at desc, live_items.batch_id desc
        ) as version_rank
    from live_items
),

final as (
    select
        catalog,
        item_id,
        title,
        category_l1,
        category_l2,
        category_l3,
        n_versions,
        batch_id,
        ingested_at
    from latest
    where version_rank = 1
)

select * from final
