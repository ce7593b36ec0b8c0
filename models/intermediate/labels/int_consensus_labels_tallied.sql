with

consensus_labels as (
    select * from {{ ref('fct_consensus_labels') }}
),

class_counts as (
    select
        run_id,
        round_index,
        relation_label,
        count(*) as n_labels
    from consensus_labels
    where is_accepted
    group by run_id, round_index, relation_label
),

shares as (
    select
        class_counts.*,
        sum(n_labels) over (partition by run_id, round_index) as n_round_labels
    from class_counts
),

final as (
    select
        run_id,
        round_index,
        relation_label,
        cast(n_labels as integer) as n_labels,
        cast(n_round_labels as integer) as n_round_labels,
        1.0 * n_labels / n_round_labels as class_share,
        cast({{ var('karl_max_class_share') }} as double) as max_class_share,
        1.0 * n_labels / n_round_labels > {{ var('karl_max_class_share') }} as is_over_max_share
    from shares
)

select * from final
