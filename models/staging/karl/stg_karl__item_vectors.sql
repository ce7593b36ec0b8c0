with

item_vectors as (
    select * from {{ source('karl', 'item_vectors') }}
),

final as (
    select
        feature_set,
        item_id,
        vector,
        created_at
    from item_vectors
)

select * from final
