{#- The learning curve of each experiment run, normalised between its floor (round-0 OOD) and its
    ceiling (loop/ceiling.py: the same model trained on every labelled pool pair). The area is the
    mean normalised gain over rounds 1..T: 0 = never learned, 1 = at the ceiling from round 1. -#}
with

experiment_rounds as (
    select * from {{ ref('fct_experiment_rounds') }}
),

run_artifacts as (
    select * from {{ ref('stg_karl__run_artifacts') }}
),

ceilings as (
    select
        run_id,
        cast({{ json_text('value_json', 'ood_macro_f1') }} as double) as ceiling_ood_macro_f1,
        cast({{ json_text('value_json', 'n_pool_labels') }} as integer) as n_ceiling_pool_labels
    from run_artifacts
    where artifact_name = 'ceiling'
),

last_rounds as (
    select
        run_id,
        max(round_index) as last_round_index
    from experiment_rounds
    group by run_id
),

normalised_rounds as (
    select
        experiment_rounds.*,
        last_rounds.last_round_index,
        ceilings.ceiling_ood_macro_f1,
        ceilings.n_ceiling_pool_labels,
        case
            when ceilings.ceiling_ood_macro_f1 > experiment_rounds.ood_macro_f1_round0
                then (experiment_rounds.ood_macro_f1 - experiment_rounds.ood_macro_f1_round0)
                    / (ceilings.ceiling_ood_macro_f1 - experiment_rounds.ood_macro_f1_round0)
        end as share_of_ceiling_gain
    from experiment_rounds
    inner join last_rounds on experiment_rounds.run_id = last_rounds.run_id
    left join ceilings on experiment_rounds.run_id = ceilings.run_id
),

per_run as (
    select
        experiment_id,
        run_id,
        strategy,
        seed,
        split_seed,
        max(last_round_index) as last_round_index,
        max(n_labels_acquired) as n_labels_acquired,
        max(id_macro_f1_round0) as id_macro_f1_round0,
        min(case when round_index > 0 then id_gain end) as lowest_id_gain,
        max(case when round_index = 0 then id_item_disjoint_macro_f1 end) as id_item_disjoint_macro_f1_round0,
        max(case when round_index = last_round_index then id_item_disjoint_macro_f1 end)
            as id_item_disjoint_macro_f1_final,
        max(ood_macro_f1_round0) as ood_macro_f1_round0,
        max(case when round_index = cast(floor(last_round_index / 2.0) as integer) then ood_macro_f1 end)
            as ood_macro_f1_half,
        max(case when round_index = last_round_index then ood_macro_f1 end) as ood_macro_f1_final,
        max(ceiling_ood_macro_f1) as ceiling_ood_macro_f1,
        max(n_ceiling_pool_labels) as n_ceiling_pool_labels,
        avg(case when round_index > 0 then share_of_ceiling_gain end) as normalised_ood_area,
        min(case when round_index > 0 and share_of_ceiling_gain >= 0.5 then n_labels_acquired end)
            as labels_to_half_ceiling_gain,
        min(case when round_index > 0 and share_of_ceiling_gain >= 0.8 then n_labels_acquired end)
            as labels_to_80pct_ceiling_gain
    from normalised_rounds
    group by experiment_id, run_id, strategy, seed, split_seed
),

final as (
    select * from per_run
)

select * from final
