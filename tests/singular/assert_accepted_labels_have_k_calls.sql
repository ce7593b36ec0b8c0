-- Invariant: exactly K = var('karl_k_calls') recorded calls (attempts 1..K) behind each accepted label.
with

consensus_labels as (
    select * from {{ ref('fct_consensus_labels') }}
),

llm_calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
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
        call_counts.n_calls,
        call_counts.n_attempts
    from consensus_labels
    left join call_counts
        on
            consensus_labels.run_id = call_counts.run_id
            and consensus_labels.round_index = call_counts.round_index
            and consensus_labels.pair_key = call_counts.pair_key
    where
        consensus_labels.is_accepted
        and (
            call_counts.n_calls is null
            or call_counts.n_calls <> {{ var('karl_k_calls') }}
            or call_counts.n_attempts <> {{ var('karl_k_calls') }}
            or call_counts.first_attempt <> 1
            or call_counts.last_attempt <> {{ var('karl_k_calls') }}
        )
)

select * from final
