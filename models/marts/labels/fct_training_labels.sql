with

human_labels as (
    select * from {{ ref('fct_human_labels') }}
),

consensus_labels as (
    select * from {{ ref('fct_consensus_labels') }}
),

human_reviews as (
    select * from {{ ref('stg_karl__human_reviews') }}
),

eval_sets as (
    select * from {{ ref('fct_eval_sets') }}
),

-- Pairs of the OOD test half never train, whatever labelled them.
test_pairs as (
    select distinct pair_key
    from eval_sets
    where eval_set = 'test'
),

human_rows as (
    select
        'human:' || dataset || ':' || pair_key as training_label_id,
        pair_key,
        item_a_id,
        item_b_id,
        relation_label,
        fbl_label,
        'human' as label_source,
        dataset,
        cast(null as {{ dbt.type_string() }}) as run_id,
        cast(null as integer) as round_index,
        judgement_ids as source_ids
    from human_labels
    where is_trainable
),

llm_rows as (
    select
        'llm:' || run_id || ':' || cast(round_index as {{ dbt.type_string() }}) || ':' || pair_key
            as training_label_id,
        pair_key,
        item_a_id,
        item_b_id,
        relation_label,
        fbl_label,
        'llm' as label_source,
        cast(null as {{ dbt.type_string() }}) as dataset,
        run_id,
        round_index,
        call_ids as source_ids
    from consensus_labels
    where is_accepted
),

-- A pair reviewed several times trains on its latest review.
ranked_reviews as (
    select
        human_reviews.*,
        row_number() over (
            partition by pair_key
            order by ingested_at desc, review_id desc
        ) as review_rank
    from human_reviews
    where relation_label is not null
),

review_rows as (
    select
        'review:' || review_id as training_label_id,
        pair_key,
        item_a_id,
        item_b_id,
        relation_label,
        fbl_label,
        'review' as label_source,
        cast(null as {{ dbt.type_string() }}) as dataset,
        cast(null as {{ dbt.type_string() }}) as run_id,
        cast(null as integer) as round_index,
        {{ array_agg_ordered('review_id') }} as source_ids
    from ranked_reviews
    where review_rank = 1
    group by review_id, pair_key, item_a_id, item_b_id, relation_label, fbl_label
),

unioned as (
    select * from human_rows
    union all
    select * from llm_rows
    union all
    select * from review_rows
),

final as (
    select unioned.*
    from unioned
    left join test_pairs
        on unioned.pair_key = test_pairs.pair_key
    where test_pairs.pair_key is null
)

select * from final
