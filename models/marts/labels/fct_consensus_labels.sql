with

votes as (
    select * from {{ ref('int_consensus_votes_tallied') }}
),

unanimous_labels as (
    select * from {{ ref('int_consensus_labels_unanimous') }}
),

majority_labels as (
    select * from {{ ref('int_consensus_labels_majority') }}
),

one_step_dawid_skene_labels as (
    select * from {{ ref('int_consensus_labels_one_step_dawid_skene') }}
),

runs as (
    select * from {{ ref('stg_karl__runs') }}
),

-- K is the run's own k_calls (from its config); var karl_k_calls for calls of an unknown run.
run_votes as (
    select
        votes.*,
        coalesce(runs.k_calls, {{ var('karl_k_calls') }}) as k_calls,
        coalesce(runs.aggregation, 'unanimity') as aggregation,
        unanimous_labels.unanimity_status,
        unanimous_labels.unanimous_label,
        majority_labels.modal_label,
        coalesce(majority_labels.n_modal_votes, 0) as n_modal_votes,
        one_step_dawid_skene_labels.weighted_label,
        one_step_dawid_skene_labels.weighted_posterior
    from votes
    left join runs
        on votes.run_id = runs.run_id
    inner join unanimous_labels
        on
            votes.run_id = unanimous_labels.run_id
            and votes.round_index = unanimous_labels.round_index
            and votes.pair_key = unanimous_labels.pair_key
    left join majority_labels
        on
            votes.run_id = majority_labels.run_id
            and votes.round_index = majority_labels.round_index
            and votes.pair_key = majority_labels.pair_key
    left join one_step_dawid_skene_labels
        on
            votes.run_id = one_step_dawid_skene_labels.run_id
            and votes.round_index = one_step_dawid_skene_labels.round_index
            and votes.pair_key = one_step_dawid_skene_labels.pair_key
),

-- Every rule first needs exactly K calls with attempts 1..K; then the run's rule decides.
judged as (
    select
        run_votes.*,
        case
            when run_votes.n_calls < run_votes.k_calls then 'too_few_calls'
            when run_votes.n_calls > run_votes.k_calls then 'too_many_calls'
            when
                run_votes.n_attempts < run_votes.k_calls
                or run_votes.first_attempt <> 1
                or run_votes.last_attempt <> run_votes.k_calls
                then 'bad_attempt_index'
            when run_votes.aggregation = 'majority'
                then case when run_votes.n_modal_votes * 2 > run_votes.k_calls then 'accepted' else 'dissent' end
            when run_votes.aggregation = 'one_step_dawid_skene'
                then
                    case
                        when run_votes.weighted_posterior >= {{ var('karl_weighted_min_posterior') }}
                            then 'accepted'
                        else 'dissent'
                    end
            else run_votes.unanimity_status
        end as consensus_status,
        case
            when run_votes.aggregation = 'majority' then run_votes.modal_label
            when run_votes.aggregation = 'one_step_dawid_skene' then run_votes.weighted_label
            else run_votes.unanimous_label
        end as aggregated_label
    from run_votes
),

final as (
    select
        run_id,
        round_index,
        pair_key,
        item_a_id,
        item_b_id,
        cast(n_calls as integer) as n_calls,
        cast(n_valid_calls as integer) as n_valid_calls,
        consensus_status = 'accepted' as is_accepted,
        consensus_status,
        case when consensus_status = 'accepted' then aggregated_label end as relation_label,
        case when consensus_status = 'accepted' then unanimous_fbl_label end as fbl_label,
        cast(k_calls as integer) as k_calls,
        annotator_kind,
        model,
        prompt_version,
        cast(n_models as integer) as n_models,
        last_call_at,
        call_ids,
        label_confidence,
        aggregation,
        cast(n_modal_votes as integer) as n_modal_votes,
        weighted_posterior
    from judged
)

select * from final
