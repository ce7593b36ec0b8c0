{#- The hierarchical sampler. Per fine category the first Q items in a seeded hash order are the
    queries; each query is paired with the items that follow it in its parent category's hash
    order (wrapping around), up to N after exclusions. The window is an equi-join on positions,
    so the cost grows with Q x N per category, never with the square of a category's size. -#}
{%- set n_queries = var('karl_sampler_queries') | int -%}
{%- set n_partners = var('karl_sampler_partners') | int -%}
{%- set slack = var('karl_sampler_slack', 20) | int -%}
with

items as (
    select * from {{ ref('int_item_categories_selected') }}
),

excluded as (
    select * from {{ ref('int_candidate_pairs_excluded') }}
),

digits as (
    {%- for digit in range(10) %}
    select {{ digit }} as digit{% if not loop.last %} union all{% endif %}
    {%- endfor %}
),

offsets as (
    -- 1 .. N + slack: room for the partners that exclusions remove.
    select ones.digit + 10 * tens.digit + 100 * hundreds.digit + 1000 * thousands.digit + 1 as window_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands
    where ones.digit + 10 * tens.digit + 100 * hundreds.digit + 1000 * thousands.digit + 1
        <= {{ n_partners + slack }}
),

queries as (
    select
        item_id as query_item_id,
        fine_category,
        parent_category,
        query_rank,
        parent_position,
        parent_size
    from items
    where query_rank <= {{ n_queries }}
),

windows as (
    select
        queries.query_item_id,
        queries.fine_category,
        queries.parent_category,
        queries.query_rank,
        offsets.window_offset,
        mod(queries.parent_position + offsets.window_offset, queries.parent_size) as partner_position
    from queries
    inner join offsets
        -- never wrap onto the query itself
        on queries.parent_size > offsets.window_offset
),

paired as (
    select
        windows.query_item_id as item_a_id,
        partners.item_id as item_b_id,
        {{ pair_key('windows.query_item_id', 'partners.item_id') }} as pair_key,
        windows.fine_category,
        windows.parent_category,
        windows.query_rank,
        windows.window_offset
    from windows
    inner join items as partners
        on
            windows.parent_category = partners.parent_category
            and windows.partner_position = partners.parent_position
),

allowed as (
    select paired.*
    from paired
    where
        paired.item_a_id <> paired.item_b_id
        and not exists (
            select 1 from excluded
            where excluded.pair_key = paired.pair_key
        )
),

capped as (
    select
        *,
        row_number() over (
            partition by item_a_id order by window_offset
        ) as partner_rank
    from allowed
),

final as (
    select
        pair_key,
        item_a_id,
        item_b_id,
        fine_category,
        parent_category,
        query_rank,
        partner_rank
    from capped
    where partner_rank <= {{ n_partners }}
    -- two queries may draw each other: keep the pair once
    qualify row_number() over (
        partition by pair_key order by fine_category, query_rank, partner_rank
    ) = 1
)

select * from final
