{#- One row per candidate pair: the relation a recommender reads. A label (review, then human
    majority, then the latest accepted LLM consensus) wins over the model's prediction; the
    prediction is the latest model version's (or var karl_model_version's) from `karl predict`. -#}
{%- set pinned_version = var('karl_model_version', '') -%}
with

candidate_pairs as (
    select * from {{ ref('fct_candidate_pairs') }}
),

predictions as (
    select * from {{ ref('stg_karl__pair_predictions') }}
),

model_versions as (
    select * from {{ ref('stg_karl__model_versions') }}
),

human_labels as (
    select * from {{ ref('fct_human_labels') }}
),

training_labels as (
    select * from {{ ref('fct_training_labels') }}
),

fbl_classes as (
    select * from {{ ref('fbl_classes') }}
),

ranked_predictions as (
    select
        predictions.*,
        row_number() over (
            partition by predictions.pair_key
            order by model_versions.created_at desc, predictions.model_version desc
        ) as prediction_rank
    from predictions
    inner join model_versions
        on predictions.model_version = model_versions.model_version
    {%- if pinned_version %}
    where predictions.model_version = '{{ pinned_version }}'
    {%- endif %}
),

latest_predictions as (
    select * from ranked_predictions
    where prediction_rank = 1
),

-- Every label of a pair, with its precedence: a review settles, then the human majority, then
-- the LLM consensus (the latest run and round first).
pair_labels as (
    select
        pair_key,
        item_a_id,
        item_b_id,
        relation_label,
        fbl_label,
        'review' as relation_source,
        1 as source_priority,
        training_label_id as tie_breaker
    from training_labels
    where label_source = 'review'

    union all

    select
        pair_key,
        item_a_id,
        item_b_id,
        relation_label,
        fbl_label,
        'human' as relation_source,
        2 as source_priority,
        dataset as tie_breaker
    from human_labels
    where relation_label is not null

    union all

    select
        pair_key,
        item_a_id,
        item_b_id,
        relation_label,
        fbl_label,
        'llm' as relation_source,
        3 as source_priority,
        run_id || ':' || lpad(cast(round_index as {{ dbt.type_string() }}), 6, '0') as tie_breaker
    from training_labels
    where label_source = 'llm'
),

ranked_labels as (
    select
        pair_labels.*,
        row_number() over (
            partition by pair_key
            order by source_priority asc, tie_breaker desc
        ) as label_rank
    from pair_labels
),

winning_labels as (
    select * from ranked_labels
    where label_rank = 1
),

-- The label's 9-class code turned to the candidate's orientation (item A, item B).
oriented_labels as (
    select
        candidate_pairs.pair_key,
        winning_labels.relation_label,
        winning_labels.relation_source,
        case
            when winning_labels.fbl_label is null then null
            when winning_labels.item_a_id = candidate_pairs.item_a_id then winning_labels.fbl_label
            else label_classes.reversed_fbl_code
        end as fbl_label
    from candidate_pairs
    inner join winning_labels
        on candidate_pairs.pair_key = winning_labels.pair_key
    left join fbl_classes as label_classes
        on winning_labels.fbl_label = label_classes.fbl_code
),

final as (
    select
        candidate_pairs.pair_key,
        candidate_pairs.item_a_id,
        candidate_pairs.item_b_id,
        candidate_pairs.fine_category,
        coalesce(oriented_labels.relation_label, latest_predictions.predicted_class) as relation_class,
        case
            when oriented_labels.relation_label is not null then oriented_labels.relation_source
            when latest_predictions.predicted_class is not null then 'model'
        end as relation_source,
        cast(oriented_labels.fbl_label as integer) as fbl_label,
        oriented_classes.direction,
        latest_predictions.predicted_class,
        latest_predictions.p_substitute,
        latest_predictions.p_complement,
        latest_predictions.p_other,
        latest_predictions.uncertainty,
        latest_predictions.model_version,
        latest_predictions.predicted_at
    from candidate_pairs
    left join latest_predictions
        on candidate_pairs.pair_key = latest_predictions.pair_key
    left join oriented_labels
        on candidate_pairs.pair_key = oriented_labels.pair_key
    left join fbl_classes as oriented_classes
        on oriented_labels.fbl_label = oriented_classes.fbl_code
)

select * from final
