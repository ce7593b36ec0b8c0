{#- The `pool` rows of the evaluation sets (the run's pool datasets, var karl_pool_labels; FBL2024's
    pool half by default) as a candidate set (the offline benchmark): each pair takes the fine and
    parent category of its item A in the run's category set. A pair in two pool datasets is offered
    once, in the direction of the first dataset by name. -#}
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

pool_rows as (
    select
        pair_key,
        item_a_id,
        item_b_id,
        row_number() over (partition by pair_key order by dataset) as pair_rank
    from eval_sets
    where eval_set = 'pool'
),

pool as (
    select
        pair_key,
        item_a_id,
        item_b_id
    from pool_rows
    where pair_rank = 1
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
