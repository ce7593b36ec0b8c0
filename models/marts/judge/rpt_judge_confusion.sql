with

labels_long as (
    select * from {{ ref('int_judge_labels_long') }}
),

judge_runs as (
    select * from {{ ref('stg_karl__judge_runs') }}
),

relation_classes as (
    select * from {{ ref('relation_classes') }}
),

fbl_classes as (
    select * from {{ ref('fbl_classes') }}
),

-- The full grid, zeros included: 3x3 (+ none) and 9x9 (+ none).
level_classes as (
    select
        'relation3' as level,
        relation_class as class_label,
        relation_code as class_order
    from relation_classes
    union all
    select
        'fbl9' as level,
        cast(fbl_code as {{ dbt.type_string() }}) as class_label,
        fbl_code as class_order
    from fbl_classes
),

grid as (
    select
        judge_runs.judge_id,
        human.level,
        human.class_label as human_label,
        human.class_order as human_order,
        llm.class_label as llm_label,
        llm.class_order as llm_order
    from judge_runs
    cross join level_classes as human
    inner join (
        select
            level,
            class_label,
            class_order
        from level_classes
        union all
        select distinct
            level,
            'none' as class_label,
            99 as class_order
        from level_classes
    ) as llm
        on human.level = llm.level
),

counts as (
    select
        judge_id,
        level,
        human_label,
        llm_label,
        count(*) as n_pairs
    from labels_long
    group by judge_id, level, human_label, llm_label
),

final as (
    select
        grid.judge_id,
        grid.level,
        grid.human_label,
        grid.llm_label,
        cast(grid.human_order as integer) as human_order,
        cast(grid.llm_order as integer) as llm_order,
        cast(coalesce(counts.n_pairs, 0) as integer) as n_pairs
    from grid
    left join counts
        on
            grid.judge_id = counts.judge_id
            and grid.level = counts.level
            and grid.human_label = counts.human_label
            and grid.llm_label = counts.llm_label
)

select * from final
