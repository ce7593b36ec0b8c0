{#-
    One row per (training label, source record): every row of fct_training_labels joined to each
    human judgement, LLM call or human review behind it, with the model, prompt version, run,
    round, strategy and uncertainty score at selection time for LLM labels.
-#}
with

training_labels as (
    select * from {{ ref('fct_training_labels') }}
),

judgements as (
    select * from {{ ref('stg_karl__labelled_judgements') }}
),

calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
),

reviews as (
    select * from {{ ref('stg_karl__human_reviews') }}
),

selections as (
    select * from {{ ref('stg_karl__selections') }}
),

runs as (
    select * from {{ ref('fct_runs') }}
),

consensus as (
    select * from {{ ref('fct_consensus_labels') }}
),

label_sources as (
    select
        training_labels.*,
        {{ unnest_array('training_labels.source_ids') }} as source_id
    from training_labels
),

judgement_sources as (
    select
        judgement_id as source_id,
        'human_judgement' as source_kind,
        annotator_id as source_annotator,
        dataset as source_dataset,
        raw_label as source_raw_label,
        relation_label as source_relation_label,
        ingested_at as source_recorded_at
    from judgements
),

call_sources as (
    select
        call_id as source_id,
        'llm_call' as source_kind,
        model as source_annotator,
        cast(null as {{ dbt.type_string() }}) as source_dataset,
        fbl_label as source_raw_label,
        relation_label as source_relation_label,
        created_at as source_recorded_at
    from calls
),

review_sources as (
    select
        review_id as source_id,
        'human_review' as source_kind,
        reviewer_id as source_annotator,
        cast(null as {{ dbt.type_string() }}) as source_dataset,
        fbl_label as source_raw_label,
        relation_label as source_relation_label,
        ingested_at as source_recorded_at
    from reviews
),

all_sources as (
    select * from judgement_sources
    union all
    select * from call_sources
    union all
    select * from review_sources
),

final as (
    select
        label_sources.training_label_id,
        label_sources.pair_key,
        label_sources.item_a_id,
        label_sources.item_b_id,
        label_sources.relation_label,
        label_sources.fbl_label,
        label_sources.label_source,
        label_sources.dataset,
        label_sources.run_id,
        label_sources.round_index,
        label_sources.source_id,
        all_sources.source_kind,
        all_sources.source_annotator,
        all_sources.source_dataset,
        all_sources.source_raw_label,
        all_sources.source_relation_label,
        all_sources.source_recorded_at,
        calls.attempt_index,
        calls.annotator_kind,
        calls.model,
        calls.prompt_version,
        calls.prompt_hash,
        calls.is_valid_vote,
        calls.cost_usd,
        calls.label_prob as call_label_prob,
        {{ json_fragment('calls.request_params', '$.few_shot.pair_keys') }} as few_shot_pair_keys,
        consensus.label_confidence,
        selections.strategy,
        selections.uncertainty_score,
        selections.fine_category,
        selections.selected_at,
        runs.annotator as run_annotator,
        runs.seed as run_seed
    from label_sources
    left join all_sources
        on label_sources.source_id = all_sources.source_id
    left join calls
        on label_sources.source_id = calls.call_id
    left join selections
        on
            label_sources.run_id = selections.run_id
            and label_sources.round_index = selections.round_index
            and label_sources.pair_key = selections.pair_key
    left join runs
        on label_sources.run_id = runs.run_id
    left join consensus
        on
            label_sources.run_id = consensus.run_id
            and label_sources.round_index = consensus.round_index
            and label_sources.pair_key = consensus.pair_key
)

select * from final
