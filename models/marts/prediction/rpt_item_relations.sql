{#- Per item, its top-k complements and substitutes (k: var karl_relations_top_k), read from
    fct_pair_relations in both directions: labelled relations first, then the model's by
    probability. Direction is said from the item's side where an FBL code gives one. -#}
with

pair_relations as (
    select * from {{ ref('fct_pair_relations') }}
),

items as (
    select * from {{ ref('dim_items') }}
),

related as (
    select * from pair_relations
    where relation_class in ('complement', 'substitute')
),

from_item_a as (
    select
        item_a_id as item_id,
        item_b_id as related_item_id,
        pair_key,
        relation_class,
        relation_source,
        case direction
            when 'a_to_b' then 'item_serves_related'
            when 'b_to_a' then 'related_serves_item'
            when 'both' then 'mutual'
            when 'none' then 'none'
        end as direction,
        case relation_class
            when 'complement' then p_complement
            else p_substitute
        end as model_probability,
        model_version
    from related
),

from_item_b as (
    select
        item_b_id as item_id,
        item_a_id as related_item_id,
        pair_key,
        relation_class,
        relation_source,
        case direction
            when 'a_to_b' then 'related_serves_item'
            when 'b_to_a' then 'item_serves_related'
            when 'both' then 'mutual'
            when 'none' then 'none'
        end as direction,
        case relation_class
            when 'complement' then p_complement
            else p_substitute
        end as model_probability,
        model_version
    from related
),

both_sides as (
    select * from from_item_a
    union all
    select * from from_item_b
),

ranked as (
    select
        both_sides.*,
        row_number() over (
            partition by both_sides.item_id, both_sides.relation_class
            order by
                case when both_sides.relation_source = 'model' then 1 else 0 end asc,
                both_sides.model_probability desc nulls last,
                both_sides.related_item_id asc
        ) as relation_rank
    from both_sides
),

final as (
    select
        ranked.item_id,
        ranked.relation_class,
        cast(ranked.relation_rank as integer) as relation_rank,
        ranked.related_item_id,
        items.title as related_title,
        ranked.relation_source,
        ranked.direction,
        ranked.model_probability,
        ranked.model_version,
        ranked.pair_key
    from ranked
    left join items
        on ranked.related_item_id = items.item_id
    where ranked.relation_rank <= {{ var('karl_relations_top_k', 10) }}
)

select * from final
