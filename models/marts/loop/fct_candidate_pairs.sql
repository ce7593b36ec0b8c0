{#- Built when a run starts or resumes (the orchestrator's prepare step), never after a round:
    the human labels and evaluation sets it excludes do not change within a run, and the run's
    own LLM labels and selections are filtered when the candidates are read. -#}
{%- set source_name = var('karl_candidate_source') -%}
{%- if source_name not in ['sampler', 'fbl_pool'] -%}
    {{ exceptions.raise_compiler_error("karl_candidate_source must be sampler or fbl_pool, not " ~ source_name) }}
{%- endif -%}
{%- set candidate_model = 'int_candidate_pairs_' ~ ('pooled' if source_name == 'fbl_pool' else 'sampled') -%}
with

candidates as (
    select * from {{ ref(candidate_model) }}
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
        '{{ var("karl_category_set") }}' as category_set
    from candidates
)

select * from final
