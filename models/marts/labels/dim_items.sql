with

judgements as (
    select * from {{ ref('stg_karl__labelled_judgements') }}
),

catalog_items as (
    select * from {{ ref('stg_catalog__items') }}
),

labelled_item_rows as (
    select
        item_a_id as item_id,
        item_a_title as title,
        item_a_url as item_url,
        catalog,
        dataset,
        source_line,
        true as is_anchor
    from judgements
    union all
    select
        item_b_id as item_id,
        item_b_title as title,
        item_b_url as item_url,
        catalog,
        dataset,
        source_line,
        false as is_anchor
    from judgements
),

labelled_anchors as (
    select distinct item_id
    from labelled_item_rows
    where is_anchor
),

-- An item of a labelled dataset takes its title from the first row that gives one (datasets by
-- name, then line), in the dataset's namespace (its catalog); a row without a title names an
-- item a catalogue or another row holds.
labelled_items as (
    select
        item_id,
        title,
        catalog,
        cast(null as {{ dbt.type_string() }}) as category_l1,
        cast(null as {{ dbt.type_string() }}) as category_l2,
        cast(null as {{ dbt.type_string() }}) as category_l3,
        item_url,
        dataset as first_dataset,
        0 as catalog_rank,
        dataset || ':' || lpad(cast(source_line as {{ dbt.type_string() }}), 9, '0')
            as order_key
    from labelled_item_rows
    where title is not null
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
    select * from labelled_items
    union all
    select * from other_items
),

-- One row per item: its labelled row when a labelled dataset titles it, else its first catalogue by name.
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
        labelled_anchors.item_id is not null as is_anchor
    from ranked
    left join labelled_anchors
        on ranked.item_id = labelled_anchors.item_id
    where ranked.item_rank = 1
)

select * from final
