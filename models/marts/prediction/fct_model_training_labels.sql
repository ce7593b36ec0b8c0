{#- The labels behind each model: a prediction's lineage reaches the human judgements or the K
    LLM calls through fct_label_lineage on training_label_id. -#}
with

model_training_labels as (
    select * from {{ ref('stg_karl__model_training_labels') }}
),

model_versions as (
    select * from {{ ref('stg_karl__model_versions') }}
),

training_labels as (
    select * from {{ ref('fct_training_labels') }}
),

final as (
    select
        model_training_labels.model_version,
        model_versions.run_id,
        model_versions.round_index,
        model_training_labels.training_label_id,
        training_labels.pair_key,
        training_labels.relation_label,
        coalesce(
            training_labels.label_source,
            {{ dbt.split_part('model_training_labels.training_label_id', "':'", 1) }}
        ) as label_source,
        training_labels.run_id as label_run_id,
        training_labels.round_index as label_round_index,
        training_labels.training_label_id is not null as is_in_training_labels
    from model_training_labels
    inner join model_versions
        on model_training_labels.model_version = model_versions.model_version
    left join training_labels
        on model_training_labels.training_label_id = training_labels.training_label_id
)

select * from final
