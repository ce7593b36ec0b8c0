with

round_metrics as (
    select * from {{ ref('stg_karl__round_metrics') }}
),

run_steps as (
    select * from {{ ref('stg_karl__run_steps') }}
),

runs as (
    select * from {{ ref('stg_karl__runs') }}
),

step_seconds as (
    select
        run_id,
        round_index,
        sum(case when step = 'train' then seconds else 0 end) as seconds_train,
        sum(case when step = 'select' then seconds else 0 end) as seconds_select,
        sum(case when step = 'annotate' then seconds else 0 end) as seconds_annotate,
        sum(case when step = 'build' then seconds else 0 end) as seconds_build,
        sum(case when step = 'evaluate' then seconds else 0 end) as seconds_evaluate,
        sum(seconds) as seconds_total
    from run_steps
    group by run_id, round_index
),

extracted as (
    select
        run_id,
        round_index,
        cast({{ json_text('metrics_json', 'id_macro_f1') }} as double) as id_macro_f1,
        cast({{ json_text('metrics_json', 'id_accuracy') }} as double) as id_accuracy,
        cast({{ json_text('metrics_json', 'id_f1_substitute') }} as double) as id_f1_substitute,
        cast({{ json_text('metrics_json', 'id_f1_complement') }} as double) as id_f1_complement,
        cast({{ json_text('metrics_json', 'id_f1_other') }} as double) as id_f1_other,
        cast({{ json_text('metrics_json', 'id_item_disjoint_macro_f1') }} as double) as id_item_disjoint_macro_f1,
        cast({{ json_text('metrics_json', 'id_item_disjoint_train_share') }} as double) as id_item_disjoint_train_share,
        cast({{ json_text('metrics_json', 'ood_macro_f1') }} as double) as ood_macro_f1,
        cast({{ json_text('metrics_json', 'ood_accuracy') }} as double) as ood_accuracy,
        cast({{ json_text('metrics_json', 'ood_f1_substitute') }} as double) as ood_f1_substitute,
        cast({{ json_text('metrics_json', 'ood_f1_complement') }} as double) as ood_f1_complement,
        cast({{ json_text('metrics_json', 'ood_f1_other') }} as double) as ood_f1_other,
        cast({{ json_text('metrics_json', 'diversity') }} as double) as diversity,
        cast({{ json_text('metrics_json', 'n_training_labels') }} as integer) as n_training_labels,
        cast({{ json_text('metrics_json', 'n_added_labels') }} as integer) as n_added_labels,
        cast({{ json_text('metrics_json', 'n_annotated_pairs') }} as integer) as n_annotated_pairs,
        cast({{ json_text('metrics_json', 'n_calls') }} as integer) as n_calls,
        cast({{ json_text('metrics_json', 'n_accepted_pairs') }} as integer) as n_accepted_pairs,
        cast({{ json_text('metrics_json', 'yield') }} as double) as acceptance_yield,
        cast({{ json_text('metrics_json', 'accepted_substitute') }} as integer) as accepted_substitute,
        cast({{ json_text('metrics_json', 'accepted_complement') }} as integer) as accepted_complement,
        cast({{ json_text('metrics_json', 'accepted_other') }} as integer) as accepted_other,
        cast({{ json_text('metrics_json', 'cost_usd') }} as double) as cost_usd,
        {{ json_fragment('metrics_json', '$.ood_by_dataset') }} as ood_by_dataset,
        created_at as evaluated_at
    from round_metrics
),

final as (
    select
        extracted.*,
        runs.strategy,
        runs.annotator,
        runs.seed,
        runs.train_labels,
        runs.pool_labels,
        runs.eval_labels,
        coalesce(step_seconds.seconds_train, 0) as seconds_train,
        coalesce(step_seconds.seconds_select, 0) as seconds_select,
        coalesce(step_seconds.seconds_annotate, 0) as seconds_annotate,
        coalesce(step_seconds.seconds_build, 0) as seconds_build,
        coalesce(step_seconds.seconds_evaluate, 0) as seconds_evaluate,
        coalesce(step_seconds.seconds_total, 0) as seconds_total
    from extracted
    inner join runs on extracted.run_id = runs.run_id
    left join step_seconds
        on extracted.run_id = step_seconds.run_id
            and extracted.round_index = step_seconds.round_index
)

select * from final
