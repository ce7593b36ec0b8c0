with

judge_runs as (
    select * from {{ ref('stg_karl__judge_runs') }}
),

judge_samples as (
    select * from {{ ref('stg_karl__judge_samples') }}
),

human_labels as (
    select * from {{ ref('fct_human_labels') }}
),

llm_calls as (
    select * from {{ ref('stg_karl__judge_calls') }}
),

fbl_classes as (
    select * from {{ ref('fbl_classes') }}
),

-- A judge's calls are llm_calls rows with run_id = judge_id (round 0), asked in the human row's
-- A->B direction, so 9-class votes compare with the human code directly.
judge_calls as (
    select llm_calls.*
    from llm_calls
    inner join judge_samples
        on
            llm_calls.run_id = judge_samples.judge_id
            and llm_calls.pair_key = judge_samples.pair_key
),

call_tallies as (
    select
        run_id as judge_id,
        pair_key,
        count(*) as n_calls,
        sum(case when is_valid_vote then 1 else 0 end) as n_valid_votes,
        count(distinct case when is_valid_vote then relation_label end) as n_relation_labels,
        count(distinct case when is_valid_vote then fbl_label end) as n_fbl_labels,
        sum(case when is_valid_vote and fbl_label is not null then 1 else 0 end) as n_fbl_votes,
        min(case when is_valid_vote then relation_label end) as any_relation_label,
        min(case when is_valid_vote then fbl_label end) as any_fbl_label,
        avg(case when is_valid_vote then label_prob end) as label_confidence,
        count(case when is_valid_vote then label_prob end) as n_votes_with_prob,
        coalesce(sum(cost_usd), 0) as cost_usd
    from judge_calls
    group by run_id, pair_key
),

relation_votes as (
    select
        run_id as judge_id,
        pair_key,
        relation_label as label,
        count(*) as n_votes
    from judge_calls
    where is_valid_vote
    group by run_id, pair_key, relation_label
),

fbl_votes as (
    select
        run_id as judge_id,
        pair_key,
        fbl_label as label,
        count(*) as n_votes
    from judge_calls
    where is_valid_vote and fbl_label is not null
    group by run_id, pair_key, fbl_label
),

-- The plurality vote: the label with the most votes, none on a tie.
relation_top as (
    select
        judge_id,
        pair_key,
        max_by(label, n_votes) as label,
        count(*) filter (where n_votes = max_votes) as n_top_labels
    from (
        select
            *,
            max(n_votes) over (partition by judge_id, pair_key) as max_votes
        from relation_votes
    ) as ranked
    group by judge_id, pair_key
),

fbl_top as (
    select
        judge_id,
        pair_key,
        max_by(label, n_votes) as label,
        count(*) filter (where n_votes = max_votes) as n_top_labels
    from (
        select
            *,
            max(n_votes) over (partition by judge_id, pair_key) as max_votes
        from fbl_votes
    ) as ranked
    group by judge_id, pair_key
),

joined as (
    select
        judge_samples.judge_id,
        judge_samples.pair_key,
        judge_samples.dataset,
        judge_samples.stratum,
        judge_samples.item_a_id,
        judge_samples.item_b_id,
        judge_runs.models,
        judge_runs.prompt_version,
        judge_runs.k_calls,
        human_labels.relation_label as human_relation_label,
        human_labels.fbl_label as human_fbl_label,
        case when relation_top.n_top_labels = 1 then relation_top.label end as llm_relation_label,
        case when fbl_top.n_top_labels = 1 then fbl_top.label end as llm_fbl_label,
        coalesce(
            call_tallies.n_valid_votes = judge_runs.k_calls
            and call_tallies.n_calls = judge_runs.k_calls
            and call_tallies.n_relation_labels = 1,
            false
        ) as is_unanimous,
        coalesce(
            call_tallies.n_fbl_votes = judge_runs.k_calls
            and call_tallies.n_calls = judge_runs.k_calls
            and call_tallies.n_fbl_labels = 1,
            false
        ) as is_unanimous_fbl,
        call_tallies.any_relation_label,
        call_tallies.any_fbl_label,
        coalesce(call_tallies.n_calls, 0) as n_calls,
        coalesce(call_tallies.n_valid_votes, 0) as n_valid_votes,
        case
            when call_tallies.n_votes_with_prob = call_tallies.n_valid_votes
                then call_tallies.label_confidence
        end as label_confidence,
        coalesce(call_tallies.cost_usd, 0) as cost_usd,
        human_classes.direction as human_direction,
        human_classes.reversed_fbl_code as human_reversed_fbl_code
    from judge_samples
    inner join judge_runs
        on judge_samples.judge_id = judge_runs.judge_id
    inner join human_labels
        on
            judge_samples.dataset = human_labels.dataset
            and judge_samples.pair_key = human_labels.pair_key
    left join call_tallies
        on
            judge_samples.judge_id = call_tallies.judge_id
            and judge_samples.pair_key = call_tallies.pair_key
    left join relation_top
        on
            judge_samples.judge_id = relation_top.judge_id
            and judge_samples.pair_key = relation_top.pair_key
    left join fbl_top
        on
            judge_samples.judge_id = fbl_top.judge_id
            and judge_samples.pair_key = fbl_top.pair_key
    left join fbl_classes as human_classes
        on human_labels.fbl_label = human_classes.fbl_code
),

final as (
    select
        judge_id,
        pair_key,
        dataset,
        stratum,
        item_a_id,
        item_b_id,
        models,
        prompt_version,
        cast(k_calls as integer) as k_calls,
        human_relation_label,
        cast(human_fbl_label as integer) as human_fbl_label,
        llm_relation_label,
        cast(llm_fbl_label as integer) as llm_fbl_label,
        case when is_unanimous then any_relation_label end as unanimous_relation_label,
        case when is_unanimous_fbl then cast(any_fbl_label as integer) end as unanimous_fbl_label,
        is_unanimous,
        coalesce(llm_relation_label = human_relation_label, false) as is_relation_correct,
        coalesce(llm_fbl_label = human_fbl_label, false) as is_fbl_correct,
        case
            when human_direction not in ('a_to_b', 'b_to_a') or human_direction is null then 'not_directional'
            when llm_fbl_label is null then 'no_label'
            when llm_fbl_label = human_fbl_label then 'same_direction'
            when llm_fbl_label = human_reversed_fbl_code then 'reversed'
            else 'other_class'
        end as direction_outcome,
        cast(n_calls as integer) as n_calls,
        cast(n_valid_votes as integer) as n_valid_votes,
        label_confidence,
        cost_usd
    from joined
)

select * from final
