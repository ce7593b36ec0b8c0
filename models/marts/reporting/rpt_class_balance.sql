{#-
    One row per (run_id, round_index, relation_label) for every round with annotations: the
    labels accepted in that round per class, their share, and the class mix of the training set
    the next round trains on (non-loop labels plus the run's accepted labels up to that round).
-#}
with

consensus as (
    select * from {{ ref('fct_consensus_labels') }}
),

training_labels as (
    select * from {{ ref('fct_training_labels') }}
),

classes as (
    select relation_class as relation_label from {{ ref('relation_classes') }}
),

rounds as (
    select distinct
        run_id,
        round_index
    from consensus
),

accepted as (
    select
        run_id,
        round_index,
        relation_label,
        count(*) as n_accepted_labels
    from consensus
    where is_accepted
    group by run_id, round_index, relation_label
),

base_labels as (
    -- labels not made by the loop (human majority labels and reviews)
    select
        relation_label,
        count(*) as n_base_labels
    from training_labels
    where label_source <> 'llm'
    group by relation_label
),

spine as (
    select
        rounds.run_id,
        rounds.round_index,
        classes.relation_label
    from rounds
    cross join classes
),

counted as (
    select
        spine.run_id,
        spine.round_index,
        spine.relation_label,
        coalesce(accepted.n_accepted_labels, 0) as n_accepted_labels,
        coalesce(base_labels.n_base_labels, 0) as n_base_labels
    from spine
    left join accepted
        on
            spine.run_id = accepted.run_id
            and spine.round_index = accepted.round_index
            and spine.relation_label = accepted.relation_label
    left join base_labels
        on spine.relation_label = base_labels.relation_label
),

cumulated as (
    select
        *,
        cast(sum(n_accepted_labels) over (
            partition by run_id, relation_label
            order by round_index
            rows between unbounded preceding and current row
        ) as bigint) as n_accepted_labels_cumulative
    from counted
),

final as (
    select
        run_id,
        round_index,
        relation_label,
        n_accepted_labels,
        cast(n_accepted_labels as double)
        / nullif(sum(n_accepted_labels) over (partition by run_id, round_index), 0) as accepted_share,
        n_accepted_labels_cumulative,
        n_base_labels + n_accepted_labels_cumulative as n_training_labels,
        cast(n_base_labels + n_accepted_labels_cumulative as double)
        / nullif(
            sum(n_base_labels + n_accepted_labels_cumulative) over (partition by run_id, round_index), 0
        ) as training_share,
        coalesce(
            cast(n_accepted_labels as double)
            / nullif(sum(n_accepted_labels) over (partition by run_id, round_index), 0)
            > {{ var('karl_max_class_share') }},
            false
        ) as is_over_max_class_share
    from cumulated
)

select * from final
