{#- One row per (run_id, round_index) with a previous round: how many pool predictions changed. -#}
with

predictions as (
    select * from {{ ref('stg_karl__pool_predictions') }}
),

compared as (
    select
        current_round.run_id,
        current_round.round_index,
        count(*) as n_compared_pairs,
        count(
            case when current_round.predicted_class <> previous_round.predicted_class then 1 end
        ) as n_changed_pairs
    from predictions as current_round
    inner join predictions as previous_round
        on
            current_round.run_id = previous_round.run_id
            and current_round.pair_key = previous_round.pair_key
            and current_round.round_index = previous_round.round_index + 1
    group by current_round.run_id, current_round.round_index
),

final as (
    select
        run_id,
        round_index,
        n_compared_pairs,
        n_changed_pairs,
        cast(n_changed_pairs as double) / n_compared_pairs as changed_share
    from compared
)

select * from final
