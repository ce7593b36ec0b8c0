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
        -- how K votes become a label (python_jobs/config.AGGREGATIONS); runs before issue 12:
        -- unanimity; runs recorded before the rename called one_step_dawid_skene dawid_skene
        case coalesce({{ json_text('config_json', 'aggregation') }}, 'unanimity')
            when 'dawid_skene' then 'one_step_dawid_skene'
            else coalesce({{ json_text('config_json', 'aggregation') }}, 'unanimity')
        end as aggregation,
        -- the labelled datasets' roles (--train-labels, --pool-labels, --eval-labels); runs
        -- recorded before roles existed ran the FBL setting
        {{ json_name_list('config_json', 'train_labels', 'FBL2023') }} as train_labels,
        {{ json_name_list('config_json', 'pool_labels', 'FBL2024') }} as pool_labels,
        {{ json_name_list('config_json', 'eval_labels', 'FBL2024') }} as eval_labels,
        created_at
    from runs
)

select * from final
