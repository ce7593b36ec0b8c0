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
        n_judgements,
        n_source_rows,
        is_given_twice,
        n_substitute_votes,
        n_complement_votes,
        n_other_votes,
        judgement_ids
    from resolved
)

select * from final
