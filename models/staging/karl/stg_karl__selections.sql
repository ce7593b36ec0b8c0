with

selections as (
    select * from {{ source('karl', 'selections') }}
),

final as (
    select
        run_id,
        round_index,
        pair_key,
        item_a_id,
        item_b_id,
        fine_category,
        strategy,
        uncertainty_score,
        reference_relation_label,
        selected_at
    from selections
)

select * from final
