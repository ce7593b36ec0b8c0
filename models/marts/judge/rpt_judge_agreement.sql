with

labels_long as (
    select * from {{ ref('int_judge_labels_long') }}
),

judge_runs as (
    select * from {{ ref('stg_karl__judge_runs') }}
),

-- Per human class: the counts behind precision, recall, F1 and the unanimous labels' quality.
per_class as (
    select
        judge_id,
        level,
        human_label as class_label,
        count(*) as n_pairs,
        count(*) filter (where llm_label = human_label) as n_correct,
        count(*) filter (where unanimous_label is not null) as n_unanimous,
        count(*) filter (where unanimous_label = human_label) as n_unanimous_correct
    from labels_long
    group by judge_id, level, human_label
),

predicted as (
    select
        judge_id,
        level,
        llm_label as class_label,
        count(*) as n_predicted
    from labels_long
    group by judge_id, level, llm_label
),

unanimous_given as (
    select
        judge_id,
        level,
        unanimous_label as class_label,
        count(*) as n_unanimous_given,
        count(*) filter (where unanimous_label = human_label) as n_unanimous_given_correct
    from labels_long
    where unanimous_label is not null
    group by judge_id, level, unanimous_label
),

class_rows as (
    select
        per_class.judge_id,
        per_class.level,
        per_class.class_label,
        per_class.n_pairs,
        per_class.n_correct,
        coalesce(predicted.n_predicted, 0) as n_predicted,
        per_class.n_unanimous,
        coalesce(unanimous_given.n_unanimous_given, 0) as n_unanimous_given,
        coalesce(unanimous_given.n_unanimous_given_correct, 0) as n_unanimous_given_correct
    from per_class
    left join predicted
        on
            per_class.judge_id = predicted.judge_id
            and per_class.level = predicted.level
            and per_class.class_label = predicted.class_label
    left join unanimous_given
        on
            per_class.judge_id = unanimous_given.judge_id
            and per_class.level = unanimous_given.level
            and per_class.class_label = unanimous_given.class_label
),

class_metrics as (
    select
        *,
        n_correct / nullif(n_predicted, 0) as precision,
        n_correct / nullif(n_pairs, 0) as recall,
        2.0 * n_correct / nullif(n_pairs + n_predicted, 0) as f1,
        n_unanimous_given_correct / nullif(n_unanimous_given, 0) as unanimous_precision,
        n_unanimous / nullif(n_pairs, 0) as unanimous_coverage
    from class_rows
),

-- Chance agreement for Cohen's kappa: sum over labels of P(human = c) * P(llm = c).
chance as (
    select
        class_rows.judge_id,
        class_rows.level,
        sum(class_rows.n_pairs * class_rows.n_predicted) as chance_products
    from class_rows
    group by class_rows.judge_id, class_rows.level
),

pair_totals as (
    select
        judge_id,
        level,
        count(*) as n_pairs,
        count(*) filter (where llm_label = human_label) as n_correct,
        count(*) filter (where unanimous_label is not null) as n_unanimous,
        count(*) filter (where unanimous_label = human_label) as n_unanimous_correct,
        count(*) filter (where direction_outcome not in ('not_directional')) as n_directional,
        count(*) filter (where direction_outcome = 'same_direction') as n_same_direction,
        count(*) filter (where direction_outcome = 'reversed') as n_reversed,
        sum(cost_usd) as cost_usd
    from labels_long
    group by judge_id, level
),

overall as (
    select
        pair_totals.judge_id,
        pair_totals.level,
        'all' as class_label,
        pair_totals.n_pairs,
        pair_totals.n_correct,
        pair_totals.n_unanimous,
        pair_totals.n_correct / pair_totals.n_pairs as accuracy,
        macro.macro_f1,
        (
            pair_totals.n_correct / pair_totals.n_pairs
            - chance.chance_products / (pair_totals.n_pairs * pair_totals.n_pairs)
        ) / nullif(1 - chance.chance_products / (pair_totals.n_pairs * pair_totals.n_pairs), 0)
            as cohens_kappa,
        cast(null as double) as precision,
        cast(null as double) as recall,
        cast(null as double) as f1,
        pair_totals.n_unanimous / pair_totals.n_pairs as unanimity_rate,
        pair_totals.n_unanimous_correct / nullif(pair_totals.n_unanimous, 0) as unanimous_precision,
        pair_totals.n_unanimous / pair_totals.n_pairs as unanimous_coverage,
        case when pair_totals.level = 'fbl9' then pair_totals.n_directional end as n_directional,
        case
            when pair_totals.level = 'fbl9'
                then pair_totals.n_same_direction / nullif(pair_totals.n_directional, 0)
        end as same_direction_rate,
        case
            when pair_totals.level = 'fbl9'
                then pair_totals.n_reversed / nullif(pair_totals.n_directional, 0)
        end as reversed_direction_rate,
        pair_totals.cost_usd,
        pair_totals.cost_usd / nullif(pair_totals.n_correct, 0) as cost_per_correct_label,
        pair_totals.cost_usd / nullif(pair_totals.n_unanimous_correct, 0) as cost_per_correct_unanimous_label
    from pair_totals
    inner join chance
        on
            pair_totals.judge_id = chance.judge_id
            and pair_totals.level = chance.level
    inner join (
        select
            judge_id,
            level,
            avg(coalesce(f1, 0)) as macro_f1
        from class_metrics
        group by judge_id, level
    ) as macro
        on
            pair_totals.judge_id = macro.judge_id
            and pair_totals.level = macro.level
),

by_class as (
    select
        judge_id,
        level,
        class_label,
        n_pairs,
        n_correct,
        n_unanimous,
        n_correct / n_pairs as accuracy,
        cast(null as double) as macro_f1,
        cast(null as double) as cohens_kappa,
        precision,
        recall,
        f1,
        n_unanimous / n_pairs as unanimity_rate,
        unanimous_precision,
        unanimous_coverage,
        cast(null as bigint) as n_directional,
        cast(null as double) as same_direction_rate,
        cast(null as double) as reversed_direction_rate,
        cast(null as double) as cost_usd,
        cast(null as double) as cost_per_correct_label,
        cast(null as double) as cost_per_correct_unanimous_label
    from class_metrics
),

unioned as (
    select * from overall
    union all
    select * from by_class
),

final as (
    select
        unioned.judge_id,
        judge_runs.models,
        judge_runs.prompt_version,
        judge_runs.prompt_hash,
        judge_runs.few_shot,
        judge_runs.k_calls,
        unioned.level,
        unioned.class_label,
        cast(unioned.n_pairs as integer) as n_pairs,
        cast(unioned.n_correct as integer) as n_correct,
        cast(unioned.n_unanimous as integer) as n_unanimous,
        unioned.accuracy,
        unioned.macro_f1,
        unioned.cohens_kappa,
        unioned.precision,
        unioned.recall,
        unioned.f1,
        unioned.unanimity_rate,
        unioned.unanimous_precision,
        unioned.unanimous_coverage,
        cast(unioned.n_directional as integer) as n_directional,
        unioned.same_direction_rate,
        unioned.reversed_direction_rate,
        unioned.cost_usd,
        unioned.cost_per_correct_label,
        unioned.cost_per_correct_unanimous_label
    from unioned
    inner join judge_runs
        on unioned.judge_id = judge_runs.judge_id
)

select * from final
