-- Invariant: exactly K recorded calls (attempts 1..K, K = the run's k_calls) behind each accepted label.
{{ config(tags=["karl_round_invariant"]) }}

with

consensus_labels as (
    select * from {{ ref('fct_consensus_labels') }}
),

llm_calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
),

runs as (
    select * from {{ ref('stg_karl__runs') }}
),

call_counts as (
    select
        run_id,
        round_index,
        pair_key,
        count(*) as n_calls,
        count(distinct attempt_index) as n_attempts,
        min(attempt_index) as first_attempt,
        max(attempt_index) as last_attempt
    from llm_calls
    group by run_id, round_index, pair_key
),

final as (
    select
        consensus_labels.run_id,
        consensus_labels.round_index,
        consensus_labels.pair_key,
        coalesce(runs.k_calls, {{ var('karl_k_calls') }}) as k_calls,
        call_counts.n_calls,
        call_counts.n_attempts
    from consensus_labels
    left join call_counts
        on
            consensus_labels.run_id = call_counts.run_id
            and consensus_labels.round_index = call_counts.round_index
            and consensus_labels.pair_key = call_counts.pair_key
    left join runs
        on consensus_labels.run_id = runs.run_id
    where
        consensus_labels.is_accepted
        and (
            call_counts.n_calls is null
            or call_counts.n_calls <> coalesce(runs.k_calls, {{ var('karl_k_calls') }})
            or call_counts.n_attempts <> coalesce(runs.k_calls, {{ var('karl_k_calls') }})
            or call_counts.first_attempt <> 1
            or call_counts.last_attempt <> coalesce(runs.k_calls, {{ var('karl_k_calls') }})
        )
)

select * from final
