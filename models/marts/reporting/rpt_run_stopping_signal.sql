{#-
    One row per run: whether another round is likely to pay. Stop when the tracked metric gained
    less than karl_stop_min_gain over the last karl_stop_patience_rounds rounds, or when the share
    of pool predictions that changed since the previous round fell below karl_stop_max_pool_change.
-#}
{%- set metric = var('karl_stop_metric', 'ood_macro_f1') -%}
{%- set patience = var('karl_stop_patience_rounds', 2) -%}
{%- set min_gain = var('karl_stop_min_gain', 0.005) -%}
{%- set max_pool_change = var('karl_stop_max_pool_change', 0.02) -%}
with

round_metrics as (
    select * from {{ ref('rpt_round_metrics') }}
),

pool_changes as (
    select * from {{ ref('int_pool_predictions_compared') }}
),

-- the loop predicts the pool when it selects (rounds 0..T-1): take each run's latest comparison
latest_pool_rounds as (
    select
        run_id,
        max(round_index) as round_index
    from pool_changes
    group by run_id
),

latest_pool_changes as (
    select pool_changes.*
    from pool_changes
    inner join latest_pool_rounds
        on
            pool_changes.run_id = latest_pool_rounds.run_id
            and pool_changes.round_index = latest_pool_rounds.round_index
),

last_rounds as (
    select
        run_id,
        max(round_index) as last_round_index,
        count(*) as n_rounds
    from round_metrics
    group by run_id
),

windowed as (
    select
        last_rounds.run_id,
        last_rounds.last_round_index,
        last_rounds.n_rounds,
        max(
            case
                when round_metrics.round_index <= last_rounds.last_round_index - {{ patience }}
                    then round_metrics.{{ metric }}
            end
        ) as best_before_window,
        max(
            case
                when round_metrics.round_index > last_rounds.last_round_index - {{ patience }}
                    then round_metrics.{{ metric }}
            end
        ) as best_in_window,
        max(
            case when round_metrics.round_index = last_rounds.last_round_index then round_metrics.{{ metric }} end
        ) as last_metric_value
    from last_rounds
    inner join round_metrics
        on last_rounds.run_id = round_metrics.run_id
    group by last_rounds.run_id, last_rounds.last_round_index, last_rounds.n_rounds
),

signals as (
    select
        windowed.*,
        windowed.best_in_window - windowed.best_before_window as metric_gain_in_window,
        latest_pool_changes.changed_share as last_pool_changed_share
    from windowed
    left join latest_pool_changes
        on windowed.run_id = latest_pool_changes.run_id
),

flagged as (
    select
        *,
        coalesce(metric_gain_in_window < {{ min_gain }}, false) as is_metric_plateaued,
        coalesce(last_pool_changed_share < {{ max_pool_change }}, false) as is_pool_stable
    from signals
),

final as (
    select
        run_id,
        last_round_index,
        n_rounds,
        '{{ metric }}' as tracked_metric,
        {{ patience }} as patience_rounds,
        cast({{ min_gain }} as double) as min_gain,
        cast({{ max_pool_change }} as double) as max_pool_changed_share,
        last_metric_value,
        best_before_window,
        best_in_window,
        metric_gain_in_window,
        last_pool_changed_share,
        is_metric_plateaued,
        is_pool_stable,
        is_metric_plateaued or is_pool_stable as should_stop,
        case
            when is_metric_plateaued
                then
                    '{{ metric }} gained ' || cast(round(metric_gain_in_window, 4) as {{ dbt.type_string() }})
                    || ' over the last {{ patience }} rounds (< {{ min_gain }})'
            when is_pool_stable
                then
                    'only ' || cast(round(100 * last_pool_changed_share, 2) as {{ dbt.type_string() }})
                    || '% of pool predictions changed since the previous round (< '
                    || '{{ (max_pool_change * 100) | round(2) }}%)'
            when metric_gain_in_window is null
                then 'fewer than {{ patience + 1 }} rounds: too early to judge'
            else
                '{{ metric }} still gaining (' || cast(round(metric_gain_in_window, 4) as {{ dbt.type_string() }})
                || ' over the last {{ patience }} rounds)'
        end as stop_reason
    from flagged
)

select * from final
