with

basket_lines_all as (
    select * from {{ source('catalog', 'basket_lines') }}
),

retractions as (
    select * from {{ source('karl_ingest', 'ingest_retractions') }}
),

-- Rows of a batch retracted by `karl ingest undo` are left out (raw stays append-only).
basket_lines as (
    select basket_lines_all.*
    from basket_lines_all
    left join retractions
        on basket_lines_all.batch_id = retractions.batch_id
    where retractions.batch_id is null
),

final as (
    select
        catalog,
        basket_id,
        item_id,
        household_id,
        week,
        n_lines,
        quantity,
        sales_value,
        batch_id,
        ingested_at
    from basket_lines
)

select * from final
