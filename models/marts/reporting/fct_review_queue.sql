{#-
    One row per (run_id, round_index, pair_key) whose K votes were not unanimous (they disagreed
    or one was invalid): the pair, its titles, every vote in call order, and whether a human has
    reviewed the pair since.
-#}
with

calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
),

votes as (
    select * from {{ ref('int_llm_votes_tallied') }}
),

selections as (
    select * from {{ ref('stg_karl__selections') }}
),

items as (
    select * from {{ ref('dim_items') }}
),

reviews as (
    select * from {{ ref('stg_karl__human_reviews') }}
),

call_lists as (
    select
        run_id,
        round_index,
        pair_key,
        {{ dbt.listagg("coalesce(relation_label, 'invalid')", "', '", "order by attempt_index") }} as votes,
        {{ dbt.listagg("coalesce(model, '')", "', '", "order by attempt_index") }} as models,
        {{ dbt.listagg("call_id", "','", "order by attempt_index") }} as call_ids,
        case
            when count(case when is_valid_vote then label_prob end) = count(case when is_valid_vote then 1 end)
                then avg(case when is_valid_vote then label_prob end)
        end as label_confidence,
        max(created_at) as queued_at
    from calls
    group by run_id, round_index, pair_key
),

reviewed_pairs as (
    select distinct pair_key from reviews
),

final as (
    select
        votes.run_id,
        votes.round_index,
        votes.pair_key,
        selections.item_a_id,
        selections.item_b_id,
        item_a.title as item_a_title,
        item_b.title as item_b_title,
        votes.strategy,
        votes.uncertainty_score,
        case when votes.n_invalid_calls > 0 then 'invalid_vote' else 'disagreement' end as review_reason,
        call_lists.votes,
        call_lists.models,
        call_lists.call_ids,
        votes.n_calls,
        votes.n_valid_calls,
        votes.n_substitute_votes,
        votes.n_complement_votes,
        votes.n_other_votes,
        votes.majority_relation_label as suggested_relation_label,
        call_lists.label_confidence,
        reviewed_pairs.pair_key is not null as is_reviewed,
        call_lists.queued_at
    from votes
    inner join call_lists
        on
            votes.run_id = call_lists.run_id
            and votes.round_index = call_lists.round_index
            and votes.pair_key = call_lists.pair_key
    inner join selections
        on
            votes.run_id = selections.run_id
            and votes.round_index = selections.round_index
            and votes.pair_key = selections.pair_key
    left join items as item_a
        on selections.item_a_id = item_a.item_id
    left join items as item_b
        on selections.item_b_id = item_b.item_id
    left join reviewed_pairs
        on votes.pair_key = reviewed_pairs.pair_key
    where not votes.is_unanimous
)

select * from final
