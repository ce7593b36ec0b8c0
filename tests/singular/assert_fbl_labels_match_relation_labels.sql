-- Invariant: wherever a mart keeps a 9-class label, its 3-class label is the seed's class of it.
{{ config(tags=["karl_round_invariant"]) }}

with

fbl_classes as (
    select * from {{ ref('fbl_classes') }}
),

labelled_rows as (
    select
        'fct_human_labels' as model_name,
        pair_key,
        fbl_label,
        relation_label
    from {{ ref('fct_human_labels') }}
    union all
    select
        'fct_consensus_labels' as model_name,
        pair_key,
        fbl_label,
        relation_label
    from {{ ref('fct_consensus_labels') }}
    union all
    select
        'fct_training_labels' as model_name,
        pair_key,
        fbl_label,
        relation_label
    from {{ ref('fct_training_labels') }}
),

final as (
    select
        labelled_rows.*,
        fbl_classes.relation_class as expected_relation_label
    from labelled_rows
    left join fbl_classes
        on labelled_rows.fbl_label = fbl_classes.fbl_code
    where
        labelled_rows.fbl_label is not null
        and (
            fbl_classes.relation_class is null
            or labelled_rows.relation_label is null
            or labelled_rows.relation_label <> fbl_classes.relation_class
        )
)

select * from final
