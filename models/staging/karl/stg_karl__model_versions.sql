with

model_versions as (
    select * from {{ source('karl_prediction', 'model_versions') }}
),

final as (
    select
        model_version,
        run_id,
        round_index,
        n_members,
        features,
        feature_sets_json,
        weights_sha256,
        n_training_labels,
        created_at
    from model_versions
)

select * from final
