with

round_metrics as (
    select * from {{ ref('fct_round_metrics') }}
),

runs as (
    select * from {{ ref('stg_karl__runs') }}
),

experiment_runs as (
    select
        run_id,
        {{ json_text('config_json', 'experiment_id') }} as experiment_id
    from runs
    where {{ json_text('config_json', 'experiment_id') }} is not null
),

eval_splits as (
    select * from {{ ref('int_run_eval_splits') }}
),

with_baseline as (
    select
        experiment_runs.experiment_id,
        round_metrics.run_id,
        round_metrics.strategy,
        round_metrics.seed,
        eval_splits.split_seed,
        round_metrics.round_index,
        round_metrics.id_macro_f1,
        round_metrics.id_item_disjoint_macro_f1,
        round_metrics.ood_macro_f1,
        round_metrics.diversity,
        round_metrics.n_training_labels,
        first_value(round_metrics.id_macro_f1) over baseline as id_macro_f1_round0,
        first_value(round_metrics.ood_macro_f1) over baseline as ood_macro_f1_round0,
        first_value(round_metrics.diversity) over baseline as diversity_round0,
        first_value(round_metrics.n_training_labels) over baseline as n_training_labels_round0
    from round_metrics
    inner join experiment_runs on round_metrics.run_id = experiment_runs.run_id
    left join eval_splits on round_metrics.run_id = eval_splits.run_id
    window baseline as (partition by round_metrics.run_id order by round_metrics.round_index)
),

final as (
    select
        *,
        id_macro_f1 - id_macro_f1_round0 as id_gain,
        ood_macro_f1 - ood_macro_f1_round0 as ood_gain,
        ood_macro_f1 / nullif(ood_macro_f1_round0, 0) - 1 as ood_relative_gain,
        diversity - diversity_round0 as diversity_gain,
        n_training_labels - n_training_labels_round0 as n_labels_acquired
    from with_baseline
)

select * from final
