with

judgements as (
    select * from {{ ref('stg_karl__labelled_judgements') }}
),

selections as (
    select * from {{ ref('stg_karl__selections') }}
),

llm_calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
),

human_reviews as (
    select * from {{ ref('stg_karl__human_reviews') }}
),

-- Every place a pair is given, with the order in which sources count as "first given":
-- rows of the train datasets (var karl_train_labels), then of the other labelled datasets (by
-- line), then selections, LLM calls and reviews (by time).
pair_mentions as (
    select distinct
        pair_key,
        item_a_id,
        item_b_id,
        dataset as pair_source,
        case when {{ in_datasets('dataset', 'karl_train_labels') }} then 1 else 2 end as source_rank,
        cast(source_line as bigint) as source_order,
        cast(null as timestamp) as given_at
    from judgements
    union all
    select
        pair_key,
        item_a_id,
        item_b_id,
        'selection' as pair_source,
        3 as source_rank,
        cast(round_index as bigint) as source_order,
        selected_at as given_at
    from selections
    union all
    select
        pair_key,
        item_a_id,
        item_b_id,
        'llm_call' as pair_source,
        4 as source_rank,
        cast(round_index as bigint) as source_order,
        created_at as given_at
    from llm_calls
    union all
    select
        pair_key,
        item_a_id,
        item_b_id,
        'review' as pair_source,
        5 as source_rank,
        cast(0 as bigint) as source_order,
        ingested_at as given_at
    from human_reviews
),

ranked as (
    select
        pair_mentions.*,
        row_number() over (
            partition by pair_key
            order by source_rank, source_order, given_at, item_a_id
        ) as mention_rank
    from pair_mentions
),

pair_flags as (
    select
        pair_key,
        count(distinct case when source_rank <= 2 then pair_source end) as n_labelled_datasets,
        count(distinct item_a_id) > 1 as is_given_both_directions
    from pair_mentions
    group by pair_key
),

final as (
    select
        ranked.pair_key,
        ranked.item_a_id,
        ranked.item_b_id,
        ranked.pair_source as first_source,
        cast(pair_flags.n_labelled_datasets as integer) as n_labelled_datasets,
        pair_flags.is_given_both_directions
    from ranked
    inner join pair_flags
        on ranked.pair_key = pair_flags.pair_key
    where ranked.mention_rank = 1
)

select * from final
