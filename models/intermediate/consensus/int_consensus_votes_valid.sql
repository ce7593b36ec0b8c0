with

llm_calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
),

final as (
    select
        run_id,
        round_index,
        pair_key,
        attempt_index,
        relation_label
    from llm_calls
    where is_valid_vote and relation_label is not null
)

select * from final
