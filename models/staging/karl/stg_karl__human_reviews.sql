with

human_reviews as (
    select * from {{ source('karl', 'human_reviews') }}
),

fbl_classes as (
    select * from {{ ref('fbl_classes') }}
),

relation_classes as (
    select * from {{ ref('relation_classes') }}
),

final as (
    select
        human_reviews.review_id,
        human_reviews.pair_key,
        human_reviews.item_a_id,
        human_reviews.item_b_id,
        human_reviews.reviewer_id,
        human_reviews.fbl_label,
        human_reviews.relation_label as recorded_relation_label,
        -- Same rule as the LLM calls: the 9-class label decides through the seed when given.
        case
            when human_reviews.fbl_label is not null then fbl_classes.relation_class
            else relation_classes.relation_class
        end as relation_label,
        human_reviews.note,
        human_reviews.batch_id,
        human_reviews.ingested_at
    from human_reviews
    left join fbl_classes
        on human_reviews.fbl_label = fbl_classes.fbl_code
    left join relation_classes
        on lower(trim(human_reviews.relation_label)) = relation_classes.relation_class
)

select * from final
