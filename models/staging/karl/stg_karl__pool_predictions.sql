with

pool_predictions as (
    select * from {{ source('karl', 'pool_predictions') }}
),

final as (
    select
        run_id,
        round_index,
        pair_key,
        predicted_class,
        created_at
    from pool_predictions
)

select * from final
