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
        created_at
    from runs
)

select * from final
