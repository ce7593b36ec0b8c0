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
        {{ array_agg_ordered('call_id', ['attempt_index', 'call_id']) }} as call_ids,
        avg(case when is_valid_vote then label_prob end) as mean_label_prob,
        count(case when is_valid_vote then label_prob end) as n_label_probs
    from oriented_calls
    group by run_id, round_index, pair_key
),

-- Votes per 3-class label; the modal label breaks ties by name (no tie is accepted anyway).
label_votes as (
    select
        run_id,
        round_index,
        pair_key,
        relation_label,
        count(*) as n_votes
    from llm_calls
    where is_valid_vote and relation_label is not null
    group by run_id, round_index, pair_key, relation_label
),

ranked_labels as (
    select
        run_id,
        round_index,
        pair_key,
        relation_label as modal_label,
        n_votes as n_modal_votes,
        sum(n_votes) over (partition by run_id, round_index, pair_key) as n_label_votes,
        row_number() over (
            partition by run_id, round_index, pair_key order by n_votes desc, relation_label asc
        ) as label_rank
    from label_votes
),

modal_labels as (
    select
        run_id,
        round_index,
        pair_key,
        modal_label,
        n_modal_votes,
        n_label_votes
    from ranked_labels
    where label_rank = 1
),

-- Dawid-Skene-style weights (one-coin, one M-step from the majority): voter k (attempt k) of a
-- run, judged at round r on the run's pairs of rounds <= r that have a strict majority, agrees
-- with it at rate p = (agree + 1) / (judged + 2); its vote weighs ln(2 p / (1 - p)) (3 classes).
-- Weights of round r never read later rounds, so a round's labels do not change afterwards.
valid_votes as (
    select
        run_id,
        round_index,
        pair_key,
        attempt_index,
        relation_label
    from llm_calls
    where is_valid_vote and relation_label is not null
),

run_rounds as (
    select distinct
        run_id,
        round_index
    from valid_votes
),

voter_agreement as (
    select
        run_rounds.run_id,
        run_rounds.round_index,
        valid_votes.attempt_index,
        (sum(case when valid_votes.relation_label = modal_labels.modal_label then 1 else 0 end) + 1.0)
        / (count(*) + 2.0) as agreement
    from run_rounds
    inner join valid_votes
        on
            run_rounds.run_id = valid_votes.run_id
            and run_rounds.round_index >= valid_votes.round_index
    inner join modal_labels
        on
            valid_votes.run_id = modal_labels.run_id
            and valid_votes.round_index = modal_labels.round_index
            and valid_votes.pair_key = modal_labels.pair_key
    where modal_labels.n_modal_votes * 2 > modal_labels.n_label_votes
    group by run_rounds.run_id, run_rounds.round_index, valid_votes.attempt_index
),

weighted_scores as (
    select
        valid_votes.run_id,
        valid_votes.round_index,
        valid_votes.pair_key,
        valid_votes.relation_label,
        sum(ln(2.0 * coalesce(voter_agreement.agreement, 0.5) / (1.0 - coalesce(voter_agreement.agreement, 0.5))))
            as label_score
    from valid_votes
    left join voter_agreement
        on
            valid_votes.run_id = voter_agreement.run_id
            and valid_votes.round_index = voter_agreement.round_index
            and valid_votes.attempt_index = voter_agreement.attempt_index
    group by valid_votes.run_id, valid_votes.round_index, valid_votes.pair_key, valid_votes.relation_label
),

-- posterior of the best label: e^s_best / (sum over voted labels e^s + e^0 per unvoted class)
weighted_posteriors as (
    select
        run_id,
        round_index,
        pair_key,
        max_by(relation_label, label_score) as weighted_label,
        exp(max(label_score)) / (sum(exp(label_score)) + (3 - count(*))) as weighted_posterior
    from weighted_scores
    group by run_id, round_index, pair_key
),

-- K is the run's own k_calls (from its config); var karl_k_calls for calls of an unknown run.
run_k as (
    select
        tallies.*,
        coalesce(runs.k_calls, {{ var('karl_k_calls') }}) as k_calls,
        coalesce(runs.aggregation, 'unanimity') as aggregation,
        modal_labels.modal_label,
        coalesce(modal_labels.n_modal_votes, 0) as n_modal_votes,
        weighted_posteriors.weighted_label,
        weighted_posteriors.weighted_posterior
    from tallies
    left join runs
        on tallies.run_id = runs.run_id
    left join modal_labels
        on
            tallies.run_id = modal_labels.run_id
            and tallies.round_index = modal_labels.round_index
            and tallies.pair_key = modal_labels.pair_key
    left join weighted_posteriors
        on
            tallies.run_id = weighted_posteriors.run_id
            and tallies.round_index = weighted_posteriors.round_index
            and tallies.pair_key = weighted_posteriors.pair_key
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
            when run_k.aggregation = 'majority'
                then case when run_k.n_modal_votes * 2 > run_k.k_calls then 'accepted' else 'dissent' end
            when run_k.aggregation = 'one_step_dawid_skene'
                then
                    case
                        when run_k.weighted_posterior >= {{ var('karl_weighted_min_posterior') }}
                            then 'accepted'
                        else 'dissent'
                    end
            when run_k.n_valid_calls < run_k.n_calls then 'invalid_call'
            when run_k.n_relation_labels > 1 then 'dissent'
            else 'accepted'
        end as consensus_status,
        case
            when run_k.aggregation = 'majority' then run_k.modal_label
            when run_k.aggregation = 'one_step_dawid_skene' then run_k.weighted_label
            else run_k.relation_label
        end as aggregated_label
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
        case when judged.consensus_status = 'accepted' then judged.aggregated_label end
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
        end as label_confidence,
        judged.aggregation,
        cast(judged.n_modal_votes as integer) as n_modal_votes,
        judged.weighted_posterior
    from judged
    inner join pair_directions
        on
            judged.run_id = pair_directions.run_id
            and judged.round_index = pair_directions.round_index
            and judged.pair_key = pair_directions.pair_key
)

select * from final
