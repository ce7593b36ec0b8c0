with

model_training_labels as (
    select * from {{ source('karl_prediction', 'model_training_labels') }}
),

final as (
    select
        model_version,
        training_label_id
    from model_training_labels
)

select * from final
