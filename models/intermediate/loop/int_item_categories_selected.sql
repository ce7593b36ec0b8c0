{#- The run's category set (var karl_category_set), each item placed in its parent category's
    hash order: query_rank within the fine category, parent_position within the parent. The anchors
    (item A) of held-out evaluation pairs are never queries: the loop never asks about the items it
    is evaluated on (they can still be a query's partner). -#}
with

item_categories as (
    select * from {{ ref('stg_karl__item_categories') }}
),

eval_sets as (
    select * from {{ ref('fct_eval_sets') }}
),

eval_anchors as (
    select distinct item_a_id as item_id
    from eval_sets
    where eval_set = 'test'
),

selected as (
    select
        item_categories.item_id,
        item_categories.fine_category,
        item_categories.parent_category,
        eval_anchors.item_id is not null as is_eval_anchor,
        {{ karl_hash_order("'" ~ var('karl_sampler_seed') ~ ":query:' || item_categories.item_id") }} as query_hash,
        {{ karl_hash_order("'" ~ var('karl_sampler_seed') ~ ":partner:' || item_categories.item_id") }} as partner_hash
    from item_categories
    left join eval_anchors on item_categories.item_id = eval_anchors.item_id
    where item_categories.category_set = '{{ var("karl_category_set") }}'
),

final as (
    select
        item_id,
        fine_category,
        parent_category,
        case
            when not is_eval_anchor
                then row_number() over (
                        partition by fine_category, is_eval_anchor order by query_hash, item_id
                    )
        end as query_rank,
        row_number() over (
            partition by parent_category order by partner_hash, item_id
        ) - 1 as parent_position,
        count(*) over (partition by parent_category) as parent_size
    from selected
)

select * from final
