{#- The run's category set (var karl_category_set), each item placed in its parent category's
    hash order: query_rank within the fine category, parent_position within the parent. -#}
with

item_categories as (
    select * from {{ ref('stg_karl__item_categories') }}
),

selected as (
    select
        item_id,
        fine_category,
        parent_category,
        {{ karl_hash_order("'" ~ var('karl_sampler_seed') ~ ":query:' || item_id") }} as query_hash,
        {{ karl_hash_order("'" ~ var('karl_sampler_seed') ~ ":partner:' || item_id") }} as partner_hash
    from item_categories
    where category_set = '{{ var("karl_category_set") }}'
),

final as (
    select
        item_id,
        fine_category,
        parent_category,
        row_number() over (
            partition by fine_category order by query_hash, item_id
        ) as query_rank,
        row_number() over (
            partition by parent_category order by partner_hash, item_id
        ) - 1 as parent_position,
        count(*) over (partition by parent_category) as parent_size
    from selected
)

select * from final
