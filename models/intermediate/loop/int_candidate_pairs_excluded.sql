{#- Pairs the sampler must never offer, with the reason: labelled pairs (human labels and every
    non-LLM training label) and evaluation pairs. With karl_candidate_source = fbl_pool the pool
    half is the candidate set itself, so pool pairs (and their human labels) stay in. -#}
{%- set from_pool = var('karl_candidate_source') == 'fbl_pool' -%}
with

human_labels as (
    select * from {{ ref('fct_human_labels') }}
),

training_labels as (
    select * from {{ ref('fct_training_labels') }}
),

eval_sets as (
    select * from {{ ref('fct_eval_sets') }}
),

pool_pairs as (
    select pair_key from eval_sets
    where eval_set = 'pool'
),

excluded as (
    select
        pair_key,
        'human_label' as exclusion_reason
    from human_labels
    where not ({{ from_pool }} and pair_key in (select pool_pairs.pair_key from pool_pairs))

    union all

    select
        pair_key,
        'training_label' as exclusion_reason
    from training_labels
    where label_source <> 'llm'

    union all

    select
        pair_key,
        'eval_' || eval_set as exclusion_reason
    from eval_sets
    where not ({{ from_pool }} and eval_set = 'pool')
),

final as (
    select distinct
        pair_key,
        exclusion_reason
    from excluded
)

select * from final
