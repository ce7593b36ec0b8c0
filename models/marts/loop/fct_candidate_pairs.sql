{#- Built once per run (the orchestrator's prepare step), not after every round: the human
    labels and evaluation sets it excludes do not change within a run, and this run's own
    LLM labels and selections are filtered when the candidates are read. -#}
{%- set source_name = var('karl_candidate_source', 'fbl_pool') -%}
{%- if source_name not in ['sampler', 'fbl_pool'] -%}
    {{ exceptions.raise_compiler_error("karl_candidate_source must be sampler or fbl_pool, not " ~ source_name) }}
{%- endif -%}
with

candidates as (
    {%- if source_name == 'fbl_pool' %}
    select * from {{ ref('int_candidate_pairs_pooled') }}
    {%- else %}
    select * from {{ ref('int_candidate_pairs_sampled') }}
    {%- endif %}
),

final as (
    select
        pair_key,
        item_a_id,
        item_b_id,
        fine_category,
        parent_category,
        query_rank,
        partner_rank,
        '{{ source_name }}' as candidate_source,
        '{{ var("karl_category_set", "") }}' as category_set
    from candidates
)

select * from final
