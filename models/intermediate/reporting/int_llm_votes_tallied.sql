{#- One row per (run_id, round_index, pair_key) that got LLM calls: the K votes counted per class. -#}
with

calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
),

selections as (
    select * from {{ ref('stg_karl__selections') }}
),

human_labels as (
    select * from {{ ref('fct_human_labels') }}
),

human_reference as (
    -- replay runs: the pair's human majority label is the reference
    select
        pair_key,
        min(relation_label) as relation_label
    from human_labels
    where has_majority
    group by pair_key
),

tallied as (
    select
        run_id,
        round_index,
        pair_key,
        count(*) as n_calls,
        count(case when is_valid_vote then 1 end) as n_valid_calls,
        count(case when not is_valid_vote then 1 end) as n_invalid_calls,
        count(case when is_valid_vote and relation_label = 'substitute' then 1 end) as n_substitute_votes,
        count(case when is_valid_vote and relation_label = 'complement' then 1 end) as n_complement_votes,
        count(case when is_valid_vote and relation_label = 'other' then 1 end) as n_other_votes,
        count(distinct case when is_valid_vote then relation_label end) as n_distinct_labels,
        cast(sum(retries) as bigint) as n_retries
    from calls
    group by run_id, round_index, pair_key
),

labelled as (
    select
        *,
        greatest(n_substitute_votes, n_complement_votes, n_other_votes) as n_top_votes,
        case
            when n_substitute_votes * 2 > n_calls then 'substitute'
            when n_complement_votes * 2 > n_calls then 'complement'
            when n_other_votes * 2 > n_calls then 'other'
        end as majority_relation_label
    from tallied
),

final as (
    select
        labelled.run_id,
        labelled.round_index,
        labelled.pair_key,
        selections.strategy,
        selections.uncertainty_score,
        labelled.n_calls,
        labelled.n_valid_calls,
        labelled.n_invalid_calls,
        labelled.n_substitute_votes,
        labelled.n_complement_votes,
        labelled.n_other_votes,
        labelled.n_distinct_labels,
        labelled.n_top_votes,
        labelled.n_retries,
        labelled.majority_relation_label,
        labelled.majority_relation_label is not null as is_majority,
        (
            labelled.n_valid_calls = {{ var('karl_k_calls') }}
            and labelled.n_calls = {{ var('karl_k_calls') }}
            and labelled.n_distinct_labels = 1
        ) as is_unanimous,
        case
            when
                labelled.n_valid_calls = {{ var('karl_k_calls') }}
                and labelled.n_calls = {{ var('karl_k_calls') }}
                and labelled.n_distinct_labels = 1
                then labelled.majority_relation_label
        end as unanimous_relation_label,
        coalesce(
            selections.reference_relation_label, human_reference.relation_label
        ) as reference_relation_label
    from labelled
    left join selections
        on
            labelled.run_id = selections.run_id
            and labelled.round_index = selections.round_index
            and labelled.pair_key = selections.pair_key
    left join human_reference
        on labelled.pair_key = human_reference.pair_key
)

select * from final
