-- Invariant: no pair of the OOD 'test' half ever reaches training, whatever labelled it; and
-- human labels train only from the run's train datasets (var karl_train_labels; FBL2023 by
-- default, never either FBL2024 half).
{{ config(tags=["karl_round_invariant"]) }}

with

training_labels as (
    select * from {{ ref('fct_training_labels') }}
),

eval_sets as (
    select * from {{ ref('fct_eval_sets') }}
),

test_pairs as (
    select
        training_labels.training_label_id,
        training_labels.pair_key,
        training_labels.label_source,
        'pair of the OOD test half' as problem
    from training_labels
    inner join eval_sets
        on training_labels.pair_key = eval_sets.pair_key
    where eval_sets.eval_set = 'test'
),

ood_human_labels as (
    select
        training_label_id,
        pair_key,
        label_source,
        'human label not from a train dataset' as problem
    from training_labels
    where label_source = 'human' and (dataset is null or not {{ in_datasets('dataset', 'karl_train_labels') }})
),

final as (
    select * from test_pairs
    union all
    select * from ood_human_labels
)

select * from final
