with

run_artifacts as (
    select * from {{ source('karl', 'run_artifacts') }}
),

final as (
    select
        run_id,
        name as artifact_name,
        value_json,
        created_at
    from run_artifacts
)

select * from final
