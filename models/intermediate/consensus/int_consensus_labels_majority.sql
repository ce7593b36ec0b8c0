with

valid_votes as (
    select * from {{ ref('int_consensus_votes_valid') }}
),

label_votes as (
    select
        run_id,
        round_index,
        pair_key,
        relation_label,
        count(*) as n_votes
    from valid_votes
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
