with

basket_lines as (
    select * from {{ source('catalog', 'basket_lines') }}
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
