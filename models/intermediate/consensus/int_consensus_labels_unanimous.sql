with

llm_calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
),

tallies as (
    select
        run_id,
        round_index,
        pair_key,
        count(*) as n_calls,
        sum(case when is_valid_vote then 1 else 0 end) as n_valid_calls,
        count(distinct case when is_valid_vote then relation_label end) as n_relation_labels,
        min(case when is_valid_vote then relation_label end) as relation_label
    from llm_calls
    group by run_id, round_index, pair_key
),

final as (
    select
        run_id,
        round_index,
        pair_key,
        case
            when n_valid_calls < n_calls then 'invalid_call'
            when n_relation_labels > 1 then 'dissent'
            else 'accepted'
        end as unanimity_status,
        case
            when n_valid_calls = n_calls and n_relation_labels <= 1 then relation_label
        end as unanimous_label
    from tallies
)

select * from final
