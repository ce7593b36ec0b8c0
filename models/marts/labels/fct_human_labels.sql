with

resolved as (
    select * from {{ ref('int_human_labels_resolved') }}
),

final as (
    select
        dataset,
        pair_key,
        item_a_id,
        item_b_id,
        relation_label,
        fbl_label,
        has_majority,
        is_trainable,
        majority_rule,
        cast(n_judgements as integer) as n_judgements,
        cast(n_source_rows as integer) as n_source_rows,
        is_given_both_directions,
        cast(n_substitute_votes as integer) as n_substitute_votes,
        cast(n_complement_votes as integer) as n_complement_votes,
        cast(n_other_votes as integer) as n_other_votes,
        judgement_ids
    from resolved
)

select * from final
