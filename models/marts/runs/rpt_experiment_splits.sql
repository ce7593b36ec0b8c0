{#- Per experiment, split and strategy: the split's floor and ceiling next to what the strategy
    reached on it, means over the seeds. -#}
with

experiment_runs as (
    select * from {{ ref('fct_experiment_runs') }}
),

final as (
    select
        experiment_id,
        split_seed,
        strategy,
        count(*) as n_runs,
        avg(ood_macro_f1_round0) as floor_ood_macro_f1,
        avg(ceiling_ood_macro_f1) as ceiling_ood_macro_f1,
        max(n_ceiling_pool_labels) as n_ceiling_pool_labels,
        avg(ood_macro_f1_half) as mean_ood_macro_f1_half,
        avg(ood_macro_f1_final) as mean_ood_macro_f1_final,
        avg(normalised_ood_area) as mean_normalised_ood_area,
        avg(lowest_id_gain) as mean_lowest_id_gain
    from experiment_runs
    group by experiment_id, split_seed, strategy
)

select * from final
