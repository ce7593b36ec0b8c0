with

llm_call_intents as (
    select * from {{ source('karl', 'llm_call_intents') }}
),

final as (
    select
        call_id,
        run_id,
        round_index,
        pair_key,
        attempt_index,
        sent_at
    from llm_call_intents
)

select * from final
