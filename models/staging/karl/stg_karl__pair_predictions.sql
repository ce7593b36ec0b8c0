with

pair_predictions as (
    select * from {{ source('karl_prediction', 'pair_predictions') }}
),

final as (
    select
        model_version,
        pair_key,
        cast(p_substitute as double) as p_substitute,
        cast(p_complement as double) as p_complement,
        cast(p_other as double) as p_other,
        predicted_class,
        cast(uncertainty as double) as uncertainty,
        predicted_at
    from pair_predictions
)

select * from final
