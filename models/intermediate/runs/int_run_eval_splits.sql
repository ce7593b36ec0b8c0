with

run_artifacts as (
    select * from {{ ref('stg_karl__run_artifacts') }}
),

final as (
    select
        run_id,
        cast({{ json_text('value_json', 'split_seed') }} as integer) as split_seed
    from run_artifacts
    where artifact_name = 'eval_split'
)

select * from final
