with

runs as (
    select * from {{ ref('stg_karl__runs') }}
),

round_metrics as (
    select * from {{ ref('stg_karl__round_metrics') }}
),

run_steps as (
    select * from {{ ref('stg_karl__run_steps') }}
),

progress as (
    select
        run_id,
        count(*) as n_rounds_evaluated,
        max(round_index) as last_round_index
    from round_metrics
    group by run_id
),

timing as (
    select
        run_id,
        sum(seconds) as seconds_total,
        max(completed_at) as last_step_at
    from run_steps
    group by run_id
),

final as (
    select
        runs.run_id,
        runs.strategy,
        runs.annotator,
        runs.seed,
        runs.rounds as rounds_planned,
        runs.budget,
        runs.created_at,
        coalesce(progress.n_rounds_evaluated, 0) as n_rounds_evaluated,
        progress.last_round_index,
        coalesce(progress.last_round_index, -1) = runs.rounds as is_complete,
        coalesce(timing.seconds_total, 0) as seconds_total,
        timing.last_step_at
    from runs
    left join progress on runs.run_id = progress.run_id
    left join timing on runs.run_id = timing.run_id
)

select * from final
