{#- The FBL `pool` half of the evaluation sets as a candidate set (the offline benchmark): each
    pair takes the fine and parent category of its item A in the run's category set. -#}
with

eval_sets as (
    select * from {{ ref('fct_eval_sets') }}
),

items as (
    select * from {{ ref('int_item_categories_selected') }}
),

excluded as (
    select * from {{ ref('int_candidate_pairs_excluded') }}
),

pool as (
    select
        pair_key,
        item_a_id,
        item_b_id
    from eval_sets
    where eval_set = 'pool'
),

final as (
    select
        pool.pair_key,
        pool.item_a_id,
        pool.item_b_id,
        cast(null as bigint) as query_rank,
        cast(null as bigint) as partner_rank,
        coalesce(items.fine_category, 'uncategorised') as fine_category,
        coalesce(items.parent_category, 'uncategorised') as parent_category
    from pool
    left join items on pool.item_a_id = items.item_id
    where
        pool.item_a_id <> pool.item_b_id
        and not exists (
            select excluded.pair_key from excluded
            where excluded.pair_key = pool.pair_key
        )
)

select * from final
