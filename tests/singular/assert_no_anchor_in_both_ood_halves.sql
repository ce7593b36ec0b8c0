-- Invariant: a dataset that is both pool and eval (FBL2024 by default) is split by anchor item: no
-- anchor has pairs of that dataset in both 'pool' and 'test'.
with

eval_sets as (
    select * from {{ ref('fct_eval_sets') }}
),

final as (
    select
        dataset,
        anchor_item_id,
        count(distinct eval_set) as n_halves
    from eval_sets
    where eval_set in ('pool', 'test')
    group by dataset, anchor_item_id
    having count(distinct eval_set) > 1
)

select * from final
