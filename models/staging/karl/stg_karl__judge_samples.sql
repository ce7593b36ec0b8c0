with

judge_samples as (
    select * from {{ source('karl_llm', 'judge_samples') }}
),

final as (
    select
        judge_id,
        pair_key,
        dataset,
        stratum,
        item_a_id,
        item_b_id
    from judge_samples
)

select * from final
