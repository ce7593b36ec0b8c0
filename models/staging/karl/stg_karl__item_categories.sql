with

item_categories as (
    select * from {{ source('karl', 'item_categories') }}
),

final as (
    select
        category_set,
        item_id,
        fine_category,
        parent_category,
        created_at
    from item_categories
)

select * from final
