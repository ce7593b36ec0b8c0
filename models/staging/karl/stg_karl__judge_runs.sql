with

judge_runs as (
    select * from {{ source('karl_llm', 'judge_runs') }}
),

final as (
    select
        judge_id,
        models,
        prompt_version,
        prompt_hash,
        few_shot,
        k_calls,
        per_class,
        seed,
        n_pairs,
        status,
        config_json,
        created_at,
        completed_at
    from judge_runs
)

select * from final
