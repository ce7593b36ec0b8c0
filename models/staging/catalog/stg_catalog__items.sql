with

items as (
    select * from {{ source('catalog', 'catalog_items') }}
),

final as (
    select
        catalog,
        item_id,
        title,
        category_l1,
        category_l2,
        category_l3,
        batch_id,
        ingested_at
    from items
)

select * from final
