with

runs as (
    select * from {{ ref('stg_karl__runs') }}
),

run_artifacts as (
    select * from {{ ref('stg_karl__run_artifacts') }}
),

eval_splits as (
    select * from {{ ref('int_run_eval_splits') }}
),

choices as (
    select
        run_id,
        cast({{ json_text('value_json', 'round_index') }} as integer) as round_index,
        cast({{ json_text('value_json', 'candidate_index') }} as integer) as candidate_index,
        {{ json_text('value_json', 'candidate_spec') }} as candidate_spec,
        {{ json_text('value_json', 'features') }} as features,
        cast({{ json_text('value_json', 'c_value') }} as double) as c_value,
        {{ json_text('value_json', 'model_family') }} as model_family,
        cast({{ json_text('value_json', 'is_run_model') }} as boolean) as is_run_model,
        cast({{ json_text('value_json', 'is_chosen') }} as boolean) as is_chosen,
        cast({{ json_text('value_json', 'n_acquired_labels') }} as integer) as n_acquired_labels,
        cast({{ json_text('value_json', 'cv_folds') }} as integer) as cv_folds,
        cast({{ json_text('value_json', 'acquired_cv_macro_f1') }} as double) as acquired_cv_macro_f1,
        cast({{ json_text('value_json', 'ood_macro_f1') }} as double) as ood_macro_f1,
        created_at as chosen_at
    from run_artifacts
    where artifact_name like 'model_choice@%'
),

run_models as (
    select
        run_id,
        round_index,
        ood_macro_f1 as run_model_ood_macro_f1
    from choices
    where is_run_model
),

final as (
    select
        {{ json_text('runs.config_json', 'experiment_id') }} as experiment_id,
        choices.run_id,
        runs.strategy,
        runs.seed,
        eval_splits.split_seed,
        choices.round_index,
        choices.candidate_index,
        choices.candidate_spec,
        choices.features,
        choices.c_value,
        choices.model_family,
        choices.is_run_model,
        choices.is_chosen,
        choices.n_acquired_labels,
        choices.cv_folds,
        choices.acquired_cv_macro_f1,
        choices.ood_macro_f1,
        run_models.run_model_ood_macro_f1,
        choices.ood_macro_f1 - run_models.run_model_ood_macro_f1 as ood_gain_over_run_model,
        choices.chosen_at
    from choices
    inner join runs on choices.run_id = runs.run_id
    left join eval_splits on choices.run_id = eval_splits.run_id
    left join run_models
        on choices.run_id = run_models.run_id
            and choices.round_index = run_models.round_index
)

select * from final
