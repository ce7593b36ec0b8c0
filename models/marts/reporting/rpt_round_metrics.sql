{#-
    One row per (run_id, round_index): the round's evaluation figures with the run's strategy,
    deltas to round 0 and to the previous round, and the accepted labels and spend so far.
-#}
with

round_metrics as (
    select * from {{ ref('fct_round_metrics') }}
),

costs as (
    select * from {{ ref('rpt_cost_by_round') }}
),

with_baseline as (
    select
        round_metrics.*,
        first_value(round_metrics.id_macro_f1) over run_rounds as round0_id_macro_f1,
        first_value(round_metrics.ood_macro_f1) over run_rounds as round0_ood_macro_f1,
        first_value(round_metrics.id_accuracy) over run_rounds as round0_id_accuracy,
        first_value(round_metrics.ood_accuracy) over run_rounds as round0_ood_accuracy,
        lag(round_metrics.id_macro_f1) over run_rounds as previous_id_macro_f1,
        lag(round_metrics.ood_macro_f1) over run_rounds as previous_ood_macro_f1
    from round_metrics
    window run_rounds as (partition by round_metrics.run_id order by round_metrics.round_index)
),

final as (
    select
        with_baseline.run_id,
        with_baseline.round_index,
        with_baseline.strategy,
        with_baseline.annotator,
        with_baseline.seed,
        with_baseline.id_macro_f1,
        with_baseline.ood_macro_f1,
        with_baseline.id_accuracy,
        with_baseline.ood_accuracy,
        with_baseline.id_f1_substitute,
        with_baseline.id_f1_complement,
        with_baseline.id_f1_other,
        with_baseline.ood_f1_substitute,
        with_baseline.ood_f1_complement,
        with_baseline.ood_f1_other,
        with_baseline.id_macro_f1 - with_baseline.round0_id_macro_f1 as id_macro_f1_delta_to_round0,
        with_baseline.ood_macro_f1 - with_baseline.round0_ood_macro_f1 as ood_macro_f1_delta_to_round0,
        with_baseline.id_accuracy - with_baseline.round0_id_accuracy as id_accuracy_delta_to_round0,
        with_baseline.ood_accuracy - with_baseline.round0_ood_accuracy as ood_accuracy_delta_to_round0,
        with_baseline.id_macro_f1 - with_baseline.previous_id_macro_f1 as id_macro_f1_delta_to_previous,
        with_baseline.ood_macro_f1 - with_baseline.previous_ood_macro_f1 as ood_macro_f1_delta_to_previous,
        with_baseline.n_training_labels,
        with_baseline.n_annotated_pairs,
        with_baseline.n_accepted_pairs,
        with_baseline.acceptance_yield,
        with_baseline.accepted_substitute,
        with_baseline.accepted_complement,
        with_baseline.accepted_other,
        with_baseline.diversity,
        with_baseline.seconds_total,
        coalesce(costs.cost_usd, 0) as cost_usd,
        coalesce(
            max(costs.cumulative_cost_usd) over (
                partition by with_baseline.run_id
                order by with_baseline.round_index
                rows between unbounded preceding and current row
            ),
            0
        ) as cumulative_cost_usd
    from with_baseline
    left join costs
        on
            with_baseline.run_id = costs.run_id
            and with_baseline.round_index = costs.round_index
)

select * from final
