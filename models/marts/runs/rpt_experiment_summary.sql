{#- The paper's three questions per experiment and strategy, over seeds:
    RQ1 ID gain (and whether long runs lose ID: the lowest ID gain of rounds 1..T), RQ2 OOD gain
    (final, best, and the round of the best), RQ3 how diversity gain correlates with ID and OOD
    gain. Every strategy of the experiment has a row, with the learning-curve figures of its runs
    (fct_experiment_runs) as mean and sd over splits x seeds. -#}
with

experiment_rounds as (
    select * from {{ ref('fct_experiment_rounds') }}
),

experiment_runs as (
    select * from {{ ref('fct_experiment_runs') }}
),

learning_curves as (
    select
        experiment_id,
        strategy,
        cast(count(distinct split_seed) as integer) as n_splits,
        avg(id_item_disjoint_macro_f1_round0) as mean_id_item_disjoint_macro_f1_round0,
        avg(id_item_disjoint_macro_f1_final) as mean_id_item_disjoint_macro_f1_final,
        stddev_samp(ood_macro_f1_round0) as sd_ood_macro_f1_round0,
        avg(ood_macro_f1_half) as mean_ood_macro_f1_half,
        stddev_samp(ood_macro_f1_half) as sd_ood_macro_f1_half,
        avg(ood_macro_f1_final) as mean_ood_macro_f1_final,
        stddev_samp(ood_macro_f1_final) as sd_ood_macro_f1_final,
        avg(ceiling_ood_macro_f1) as mean_ceiling_ood_macro_f1,
        stddev_samp(ceiling_ood_macro_f1) as sd_ceiling_ood_macro_f1,
        avg(normalised_ood_area) as mean_normalised_ood_area,
        stddev_samp(normalised_ood_area) as sd_normalised_ood_area,
        avg(labels_to_half_ceiling_gain) as mean_labels_to_half_ceiling_gain,
        cast(count(labels_to_half_ceiling_gain) as integer) as n_runs_reaching_half_ceiling_gain,
        avg(labels_to_80pct_ceiling_gain) as mean_labels_to_80pct_ceiling_gain,
        cast(count(labels_to_80pct_ceiling_gain) as integer) as n_runs_reaching_80pct_ceiling_gain
    from experiment_runs
    group by experiment_id, strategy
),

last_rounds as (
    select
        experiment_id,
        strategy,
        run_id,
        max(round_index) as last_round_index,
        max(id_macro_f1) as best_id_macro_f1,
        max(ood_macro_f1) as best_ood_macro_f1,
        -- the earliest round reaching the run's best OOD macro-F1
        min_by(
            round_index, {{ struct_of([('neg_f1', '-ood_macro_f1'), ('round_index', 'round_index')]) }}
        ) as best_ood_round,
        min(case when round_index > 0 then id_gain end) as min_id_gain
    from experiment_rounds
    group by experiment_id, strategy, run_id
),

per_run as (
    select
        experiment_rounds.experiment_id,
        experiment_rounds.strategy,
        experiment_rounds.run_id,
        last_rounds.last_round_index,
        experiment_rounds.id_macro_f1_round0,
        experiment_rounds.ood_macro_f1_round0,
        experiment_rounds.id_gain as final_id_gain,
        experiment_rounds.ood_gain as final_ood_gain,
        experiment_rounds.ood_relative_gain as final_ood_relative_gain,
        last_rounds.best_ood_macro_f1 / nullif(experiment_rounds.ood_macro_f1_round0, 0) - 1
            as best_ood_relative_gain,
        last_rounds.best_id_macro_f1 - experiment_rounds.id_macro_f1 as id_drop_from_best,
        last_rounds.best_ood_round,
        last_rounds.best_ood_macro_f1 - experiment_rounds.ood_macro_f1_round0 as best_ood_gain,
        last_rounds.min_id_gain
    from experiment_rounds
    inner join last_rounds
        on experiment_rounds.run_id = last_rounds.run_id
            and experiment_rounds.round_index = last_rounds.last_round_index
),

per_strategy as (
    select
        experiment_id,
        strategy,
        count(*) as n_runs,
        max(last_round_index) as n_rounds,
        avg(id_macro_f1_round0) as mean_id_macro_f1_round0,
        avg(final_id_gain) as mean_id_gain,
        stddev_samp(final_id_gain) as sd_id_gain,
        avg(id_drop_from_best) as mean_id_drop_from_best,
        avg(ood_macro_f1_round0) as mean_ood_macro_f1_round0,
        avg(final_ood_gain) as mean_ood_gain,
        stddev_samp(final_ood_gain) as sd_ood_gain,
        avg(final_ood_relative_gain) as mean_ood_relative_gain,
        stddev_samp(final_ood_relative_gain) as sd_ood_relative_gain,
        avg(best_ood_relative_gain) as mean_best_ood_relative_gain,
        avg(best_ood_gain) as mean_best_ood_gain,
        avg(best_ood_round) as mean_best_ood_round,
        avg(min_id_gain) as mean_min_id_gain,
        cast(count(case when min_id_gain >= 0 then 1 end) as integer) as n_runs_id_never_below_round0
    from per_run
    group by experiment_id, strategy
),

correlations as (
    select
        experiment_id,
        strategy,
        corr(diversity_gain, id_gain) as corr_diversity_id_gain,
        corr(diversity_gain, ood_gain) as corr_diversity_ood_gain
    from experiment_rounds
    where round_index > 0
    group by experiment_id, strategy
),

final as (
    select
        per_strategy.*,
        correlations.corr_diversity_id_gain,
        correlations.corr_diversity_ood_gain,
        learning_curves.n_splits,
        learning_curves.mean_id_item_disjoint_macro_f1_round0,
        learning_curves.mean_id_item_disjoint_macro_f1_final,
        learning_curves.sd_ood_macro_f1_round0,
        learning_curves.mean_ood_macro_f1_half,
        learning_curves.sd_ood_macro_f1_half,
        learning_curves.mean_ood_macro_f1_final,
        learning_curves.sd_ood_macro_f1_final,
        learning_curves.mean_ceiling_ood_macro_f1,
        learning_curves.sd_ceiling_ood_macro_f1,
        learning_curves.mean_normalised_ood_area,
        learning_curves.sd_normalised_ood_area,
        learning_curves.mean_labels_to_half_ceiling_gain,
        learning_curves.n_runs_reaching_half_ceiling_gain,
        learning_curves.mean_labels_to_80pct_ceiling_gain,
        learning_curves.n_runs_reaching_80pct_ceiling_gain
    from per_strategy
    left join correlations
        on per_strategy.experiment_id = correlations.experiment_id
            and per_strategy.strategy = correlations.strategy
    left join learning_curves
        on per_strategy.experiment_id = learning_curves.experiment_id
            and per_strategy.strategy = learning_curves.strategy
)

select * from final
