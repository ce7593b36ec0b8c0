with

llm_calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
),

runs as (
    select * from {{ ref('stg_karl__runs') }}
),

fbl_classes as (
    select * from {{ ref('fbl_classes') }}
),

-- The pair's direction in a round is that of its first attempt; 9-class votes given on the
-- reversed row are read through the seed's reversed code.
first_attempts as (
    select
        run_id,
        round_index,
        pair_key,
        item_a_id,
        item_b_id,
        row_number() over (
            partition by run_id, round_index, pair_key
            order by attempt_index, call_id
        ) as attempt_rank
    from llm_calls
),

pair_directions as (
    select
        run_id,
        round_index,
        pair_key,
        item_a_id,
        item_b_id
    from first_attempts
    where attempt_rank = 1
),

oriented_calls as (
    select
        llm_calls.*,
        case
            when llm_calls.item_a_id = pair_directions.item_a_id then llm_calls.fbl_label
            else fbl_classes.reversed_fbl_code
        end as oriented_fbl_label
    from llm_calls
    inner join pair_directions
        on
            llm_calls.run_id = pair_directions.run_id
            and llm_calls.round_index = pair_directions.round_index
            and llm_calls.pair_key = pair_directions.pair_key
    left join fbl_classes
        on llm_calls.fbl_label = fbl_classes.fbl_code
),

tallies as (
    select
        run_id,
        round_index,
        pair_key,
        count(*) as n_calls,
        count(distinct attempt_index) as n_attempts,
        min(attempt_index) as first_attempt,
        max(attempt_index) as last_attempt,
        sum(case when is_valid_vote then 1 else 0 end) as n_valid_calls,
        count(distinct case when is_valid_vote then relation_label end) as n_relation_labels,
        min(case when is_valid_vote then relation_label end) as relation_label,
        -- 9-class unanimity: every valid vote gave a 9-class code and all the same one.
        sum(case when is_valid_vote and oriented_fbl_label is not null then 1 else 0 end)
            as n_fbl_votes,
        count(distinct case when is_valid_vote then oriented_fbl_label end) as n_fbl_labels,
        min(case when is_valid_vote then oriented_fbl_label end) as fbl_label,
        min(annotator_kind) as annotator_kind,
        min(model) as model,
        min(prompt_version) as prompt_version,
        count(distinct model) as n_models,
        max(created_at) as last_call_at,
        array_agg(call_id order by attempt_index, call_id) as call_ids,
        avg(case when is_valid_vote then label_prob end) as mean_label_prob,
        count(case when is_valid_vote then label_prob end) as n_label_probs
    from oriented_calls
    group by run_id, round_index, pair_key
),

-- K is the run's own k_calls (from its config); var karl_k_calls for calls of an unknown run.
run_k as (
    select
        tallies.*,
        coalesce(runs.k_calls, {{ var('karl_k_calls') }}) as k_calls
    from tallies
    left join runs
        on tallies.run_id = runs.run_id
),

judged as (
    select
        run_k.*,
        case
            when run_k.n_calls < run_k.k_calls then 'too_few_calls'
            when run_k.n_calls > run_k.k_calls then 'too_many_calls'
            when
                run_k.n_attempts < run_k.k_calls
                or run_k.first_attempt <> 1
                or run_k.last_attempt <> run_k.k_calls
                then 'bad_attempt_index'
            when run_k.n_valid_calls < run_k.n_calls then 'invalid_call'
            when run_k.n_relation_labels > 1 then 'dissent'
            else 'accepted'
        end as consensus_status
    from run_k
),

final as (
    select
        judged.run_id,
        judged.round_index,
        judged.pair_key,
        pair_directions.item_a_id,
        pair_directions.item_b_id,
        cast(judged.n_calls as integer) as n_calls,
        cast(judged.n_valid_calls as integer) as n_valid_calls,
        judged.consensus_status = 'accepted' as is_accepted,
        judged.consensus_status,
        case when judged.consensus_status = 'accepted' then judged.relation_label end
            as relation_label,
        case
            when
                judged.consensus_status = 'accepted'
                and judged.n_fbl_votes = judged.n_calls
                and judged.n_fbl_labels = 1
                then judged.fbl_label
        end as fbl_label,
        cast(judged.k_calls as integer) as k_calls,
        judged.annotator_kind,
        judged.model,
        judged.prompt_version,
        cast(judged.n_models as integer) as n_models,
        judged.last_call_at,
        judged.call_ids,
        -- The votes' mean probability of their label, when every valid vote carries one.
        case
            when judged.n_valid_calls > 0 and judged.n_label_probs = judged.n_valid_calls
                then judged.mean_label_prob
        end as label_confidence
    from judged
    inner join pair_directions
        on
            judged.run_id = pair_directions.run_id
            and judged.round_index = pair_directions.round_index
            and judged.pair_key = pair_directions.pair_key
)

select * from final
