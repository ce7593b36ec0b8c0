with

judgements as (
    select * from {{ ref('stg_fbl__judgements') }}
),

catalog_items as (
    select * from {{ ref('stg_catalog__items') }}
),

fbl_item_rows as (
    select
        item_a_id as item_id,
        item_a_title as title,
        item_a_url as item_url,
        dataset,
        source_line,
        true as is_anchor
    from judgements
    union all
    select
        item_b_id as item_id,
        item_b_title as title,
        item_b_url as item_url,
        dataset,
        source_line,
        false as is_anchor
    from judgements
),

fbl_anchors as (
    select distinct item_id
    from fbl_item_rows
    where is_anchor
),

-- An FBL item takes its title from the first row it appears on.
fbl_items as (
    select
        item_id,
        title,
        'fbl' as catalog,
        cast(null as {{ dbt.type_string() }}) as category_l1,
        cast(null as {{ dbt.type_string() }}) as category_l2,
        cast(null as {{ dbt.type_string() }}) as category_l3,
        item_url,
        dataset as first_dataset,
        0 as catalog_rank,
        dataset || ':' || lpad(cast(source_line as {{ dbt.type_string() }}), 9, '0')
            as order_key
    from fbl_item_rows
),

other_items as (
    select
        item_id,
        title,
        catalog,
        category_l1,
        category_l2,
        category_l3,
        cast(null as {{ dbt.type_string() }}) as item_url,
        cast(null as {{ dbt.type_string() }}) as first_dataset,
        1 as catalog_rank,
        catalog as order_key
    from catalog_items
),

unioned as (
    select * from fbl_items
    union all
    select * from other_items
),

-- One row per item: the FBL row when the item is an FBL item, else its first catalogue by name.
ranked as (
    select
        unioned.*,
        row_number() over (
            partition by item_id
            order by catalog_rank, order_key
        ) as item_rank
    from unioned
),

final as (
    select
        ranked.item_id,
        ranked.title,
        ranked.catalog,
        ranked.category_l1,
        ranked.category_l2,
        ranked.category_l3,
        ranked.item_url,
        ranked.first_dataset,
        fbl_anchors.item_id is not null as is_fbl_anchor
    from ranked
    left join fbl_anchors
        on ranked.item_id = fbl_anchors.item_id
    where ranked.item_rank = 1
)

select * from final
