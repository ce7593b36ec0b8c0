-- Invariant: under unanimity (the default aggregation), an accepted LLM label never has a
-- dissenting or invalid vote behind it.
-- One failing row per call of an accepted pair that is invalid or gives another label.
{{ config(tags=["karl_round_invariant"]) }}

with

consensus_labels as (
    select * from {{ ref('fct_consensus_labels') }}
),

llm_calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
),

final as (
    select
        consensus_labels.run_id,
        consensus_labels.round_index,
        consensus_labels.pair_key,
        consensus_labels.relation_label as accepted_label,
        llm_calls.call_id,
        llm_calls.is_valid_vote,
        llm_calls.relation_label as call_label
    from consensus_labels
    inner join llm_calls
        on
            consensus_labels.run_id = llm_calls.run_id
            and consensus_labels.round_index = llm_calls.round_index
            and consensus_labels.pair_key = llm_calls.pair_key
    where
        consensus_labels.is_accepted
        and consensus_labels.aggregation = 'unanimity'
        and (
            not llm_calls.is_valid_vote
            or llm_calls.relation_label is null
            or llm_calls.relation_label <> consensus_labels.relation_label
        )
)

select * from final
