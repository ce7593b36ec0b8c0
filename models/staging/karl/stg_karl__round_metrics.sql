with

round_metrics as (
    select * from {{ source('karl', 'round_metrics') }}
),

final as (
    select
        run_id,
        round_index,
        metrics_json,
        created_at
    from round_metrics
)

select * from final
