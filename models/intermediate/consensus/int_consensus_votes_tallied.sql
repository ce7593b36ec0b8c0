with

llm_calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
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
        {{ array_agg_ordered('call_id', ['attempt_index', 'call_id']) }} as call_ids,
        avg(case when is_valid_vote then label_prob end) as mean_label_prob,
        count(case when is_valid_vote then label_prob end) as n_label_probs
    from oriented_calls
    group by run_id, round_index, pair_key
),

final as (
    select
        tallies.run_id,
        tallies.round_index,
        tallies.pair_key,
        pair_directions.item_a_id,
        pair_directions.item_b_id,
        tallies.n_calls,
        tallies.n_attempts,
        tallies.first_attempt,
        tallies.last_attempt,
        tallies.n_valid_calls,
        case
            when tallies.n_fbl_votes = tallies.n_calls and tallies.n_fbl_labels = 1
                then tallies.fbl_label
        end as unanimous_fbl_label,
        tallies.annotator_kind,
        tallies.model,
        tallies.prompt_version,
        tallies.n_models,
        tallies.last_call_at,
        tallies.call_ids,
        -- The votes' mean probability of their label, when every valid vote carries one.
        case
            when tallies.n_valid_calls > 0 and tallies.n_label_probs = tallies.n_valid_calls
                then tallies.mean_label_prob
        end as label_confidence
    from tallies
    inner join pair_directions
        on
            tallies.run_id = pair_directions.run_id
            and tallies.round_index = pair_directions.round_index
            and tallies.pair_key = pair_directions.pair_key
)

select * from final
