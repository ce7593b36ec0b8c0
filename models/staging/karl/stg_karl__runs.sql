with

runs as (
    select * from {{ source('karl', 'runs') }}
),

final as (
    select
        run_id,
        strategy,
        annotator,
        seed,
        rounds,
        budget,
        config_json,
        created_at
    from runs
)

select * from final
