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

{%- set figures = [
    ('id_macro_f1', 'double'), ('id_accuracy', 'double'),
    ('id_f1_substitute', 'double'), ('id_f1_complement', 'double'), ('id_f1_other', 'double'),
    ('ood_macro_f1', 'double'), ('ood_accuracy', 'double'),
    ('ood_f1_substitute', 'double'), ('ood_f1_complement', 'double'), ('ood_f1_other', 'double'),
    ('diversity', 'double'), ('n_training_labels', 'integer'), ('n_added_labels', 'integer'),
    ('n_annotated_pairs', 'integer'), ('n_calls', 'integer'), ('n_accepted_pairs', 'integer'),
    ('yield', 'double'), ('accepted_substitute', 'integer'), ('accepted_complement', 'integer'),
    ('accepted_other', 'integer'), ('cost_usd', 'double'),
] %}

extracted as (
    select
        run_id,
        round_index,
        {%- for name, type in figures %}
        cast({{ json_text('metrics_json', name) }} as {{ type }}) as {{ name if name != 'yield' else 'acceptance_yield' }},
        {%- endfor %}
        created_at as evaluated_at
    from round_metrics
),

final as (
    select
        extracted.*,
        runs.strategy,
        runs.annotator,
        runs.seed,
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
