-- Invariant: with the sampler, the anchor (item A) of a held-out evaluation pair is never a query
-- of the candidate pool (int_item_categories_selected): the loop never asks about the items it is
-- evaluated on. With the fbl_pool source the pool and test halves are split by anchor already.
{{ config(tags=["karl_candidates"]) }}

with

candidate_pairs as (
    select * from {{ ref('fct_candidate_pairs') }}
),

eval_sets as (
    select * from {{ ref('fct_eval_sets') }}
),

final as (
    select
        candidate_pairs.pair_key,
        candidate_pairs.item_a_id,
        eval_sets.dataset
    from candidate_pairs
    inner join eval_sets
        on candidate_pairs.item_a_id = eval_sets.item_a_id
    where
        eval_sets.eval_set = 'test'
        and {{ 'true' if var('karl_candidate_source') == 'sampler' else 'false' }}
)

select * from final
