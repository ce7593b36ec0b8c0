{#- The hierarchical sampler. Per fine category the first Q items in a seeded hash order are the
    queries; each query is paired with the items that follow it in its parent category's hash
    order (wrapping around), up to N after exclusions. The window is an equi-join on positions,
    so the cost grows with Q x N per category, never with the square of a category's size. -#}
{%- set n_queries = var('karl_sampler_queries') | int -%}
{%- set n_partners = var('karl_sampler_partners') | int -%}
{%- set slack = var('karl_sampler_slack') | int -%}
with

items as (
    select * from {{ ref('int_item_categories_selected') }}
),

excluded as (
    select * from {{ ref('int_candidate_pairs_excluded') }}
),

digits as (
    select 0 as digit
    union all
    select 1 as digit
    union all
    select 2 as digit
    union all
    select 3 as digit
    union all
    select 4 as digit
    union all
    select 5 as digit
    union all
    select 6 as digit
    union all
    select 7 as digit
    union all
    select 8 as digit
    union all
    select 9 as digit
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
        windows.fine_category,
        windows.parent_category,
        windows.query_rank,
        windows.window_offset,
        partners.query_rank <= {{ n_queries }} as is_partner_query
    from windows
    inner join items as partners
        on
            windows.parent_category = partners.parent_category
            and windows.partner_position = partners.parent_position
),

keyed as (
    select
        *,
        {{ pair_key('item_a_id', 'item_b_id') }} as pair_key
    from paired
),

flagged as (
    select
        keyed.*,
        excluded_keys.pair_key is not null as is_excluded
    from keyed
    left join (select distinct pair_key from excluded) as excluded_keys
        on keyed.pair_key = excluded_keys.pair_key
),

-- Exclusions are rare: only the queries that lost a partner need their partners re-ranked;
-- every other query keeps its first N offsets as they are.
hit_queries as (
    select distinct item_a_id from flagged
    where is_excluded
),

untouched as (
    select
        pair_key,
        item_a_id,
        item_b_id,
        fine_category,
        parent_category,
        query_rank,
        is_partner_query,
        window_offset as partner_rank
    from flagged
    where
        window_offset <= {{ n_partners }}
        and item_a_id not in (select hit_queries.item_a_id from hit_queries)
),

reranked as (
    select
        pair_key,
        item_a_id,
        item_b_id,
        fine_category,
        parent_category,
        query_rank,
        is_partner_query,
        row_number() over (
            partition by item_a_id order by window_offset
        ) as partner_rank
    from flagged
    where
        not is_excluded
        and item_a_id in (select hit_queries.item_a_id from hit_queries)
),

capped as (
    select * from untouched
    union all
    select * from reranked
    where partner_rank <= {{ n_partners }}
),

-- Two queries may draw each other (A->B and B->A): keep the row of the query that comes
-- first by (fine_category, query_rank, item_a_id). Only rows whose partner is a query can clash.
mutual as (
    select * from capped
    where is_partner_query
),

shadowed as (
    select
        mutual.item_a_id,
        mutual.item_b_id
    from mutual
    inner join mutual as reverse_pairs
        on
            mutual.item_b_id = reverse_pairs.item_a_id
            and mutual.item_a_id = reverse_pairs.item_b_id
    where
        reverse_pairs.fine_category < mutual.fine_category
        or (
            reverse_pairs.fine_category = mutual.fine_category
            and (
                reverse_pairs.query_rank < mutual.query_rank
                or (
                    reverse_pairs.query_rank = mutual.query_rank
                    and reverse_pairs.item_a_id < mutual.item_a_id
                )
            )
        )
),

final as (
    select
        capped.pair_key,
        capped.item_a_id,
        capped.item_b_id,
        capped.fine_category,
        capped.parent_category,
        capped.query_rank,
        capped.partner_rank
    from capped
    left join shadowed
        on
            capped.item_a_id = shadowed.item_a_id
            and capped.item_b_id = shadowed.item_b_id
    where shadowed.item_a_id is null
)

select * from final
