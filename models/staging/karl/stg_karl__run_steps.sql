with

run_steps as (
    select * from {{ source('karl', 'run_steps') }}
),

final as (
    select
        run_id,
        round_index,
        step,
        seconds,
        completed_at
    from run_steps
)

select * from final
