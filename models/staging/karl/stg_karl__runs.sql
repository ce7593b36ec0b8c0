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
        cast({{ json_text('config_json', 'k_calls') }} as integer) as k_calls,
        -- how K votes become a label (python_jobs/run_config.AGGREGATIONS); runs before issue 12: unanimity
        coalesce({{ json_text('config_json', 'aggregation') }}, 'unanimity') as aggregation,
        created_at
    from runs
)

select * from final
