with

llm_calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
),

label_votes as (
    select
        run_id,
        round_index,
        pair_key,
        relation_label,
        count(*) as n_votes
    from llm_calls
    where is_valid_vote and relation_label is not null
    group by run_id, round_index, pair_key, relation_label
),

-- The modal label breaks ties by name (a tie is never a strict majority).
ranked_labels as (
    select
        run_id,
        round_index,
        pair_key,
        relation_label as modal_label,
        n_votes as n_modal_votes,
        sum(n_votes) over (partition by run_id, round_index, pair_key) as n_label_votes,
        row_number() over (
            partition by run_id, round_index, pair_key order by n_votes desc, relation_label asc
        ) as label_rank
    from label_votes
),

final as (
    select
        run_id,
        round_index,
        pair_key,
        modal_label,
        n_modal_votes,
        n_label_votes
    from ranked_labels
    where label_rank = 1
)

select * from final
