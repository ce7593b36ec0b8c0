-- One row per (judge, level, pair): the human majority and the LLM's labels as text, so the
-- 3-class and the 9-class agreement are computed by one query.
with

judge_pairs as (
    select * from {{ ref('fct_judge_pairs') }}
),

relation_level as (
    select
        judge_id,
        'relation3' as level,
        pair_key,
        human_relation_label as human_label,
        coalesce(llm_relation_label, 'none') as llm_label,
        unanimous_relation_label as unanimous_label,
        cost_usd,
        direction_outcome
    from judge_pairs
    where human_relation_label is not null
),

fbl_level as (
    select
        judge_id,
        'fbl9' as level,
        pair_key,
        cast(human_fbl_label as {{ dbt.type_string() }}) as human_label,
        coalesce(cast(llm_fbl_label as {{ dbt.type_string() }}), 'none') as llm_label,
        cast(unanimous_fbl_label as {{ dbt.type_string() }}) as unanimous_label,
        cost_usd,
        direction_outcome
    from judge_pairs
    where human_fbl_label is not null
),

final as (
    select * from relation_level
    union all
    select * from fbl_level
)

select * from final
