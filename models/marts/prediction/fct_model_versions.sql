with

model_versions as (
    select * from {{ ref('stg_karl__model_versions') }}
),

runs as (
    select * from {{ ref('stg_karl__runs') }}
),

model_training_labels as (
    select * from {{ ref('fct_model_training_labels') }}
),

predictions as (
    select * from {{ ref('stg_karl__pair_predictions') }}
),

label_counts as (
    select
        model_version,
        count(*) filter (where label_source = 'human') as n_human_labels,
        count(*) filter (where label_source = 'llm') as n_llm_labels,
        count(*) filter (where label_source = 'review') as n_review_labels
    from model_training_labels
    group by model_version
),

prediction_counts as (
    select
        model_version,
        count(*) as n_predicted_pairs,
        max(predicted_at) as last_predicted_at
    from predictions
    group by model_version
),

final as (
    select
        model_versions.model_version,
        model_versions.run_id,
        model_versions.round_index,
        runs.strategy,
        runs.annotator,
        model_versions.n_members,
        model_versions.features,
        model_versions.weights_sha256,
        model_versions.n_training_labels,
        coalesce(label_counts.n_human_labels, 0) as n_human_labels,
        coalesce(label_counts.n_llm_labels, 0) as n_llm_labels,
        coalesce(label_counts.n_review_labels, 0) as n_review_labels,
        coalesce(prediction_counts.n_predicted_pairs, 0) as n_predicted_pairs,
        prediction_counts.last_predicted_at,
        model_versions.created_at
    from model_versions
    left join runs
        on model_versions.run_id = runs.run_id
    left join label_counts
        on model_versions.model_version = label_counts.model_version
    left join prediction_counts
        on model_versions.model_version = prediction_counts.model_version
)

select * from final
