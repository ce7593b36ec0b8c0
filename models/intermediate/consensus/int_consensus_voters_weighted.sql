with

valid_votes as (
    select * from {{ ref('int_consensus_votes_valid') }}
),

majority_labels as (
    select * from {{ ref('int_consensus_labels_majority') }}
),

run_rounds as (
    select distinct
        run_id,
        round_index
    from valid_votes
),

-- Voter k (attempt k) of a run, judged at round r on the run's pairs of rounds <= r that have a
-- strict majority, agrees with it at rate p = (agree + 1) / (judged + 2). Rounds after r are
-- never read, so a round's weights do not change afterwards.
final as (
    select
        run_rounds.run_id,
        run_rounds.round_index,
        valid_votes.attempt_index,
        (sum(case when valid_votes.relation_label = majority_labels.modal_label then 1 else 0 end) + 1.0)
        / (count(*) + 2.0) as agreement
    from run_rounds
    inner join valid_votes
        on
            run_rounds.run_id = valid_votes.run_id
            and run_rounds.round_index >= valid_votes.round_index
    inner join majority_labels
        on
            valid_votes.run_id = majority_labels.run_id
            and valid_votes.round_index = majority_labels.round_index
            and valid_votes.pair_key = majority_labels.pair_key
    where majority_labels.n_modal_votes * 2 > majority_labels.n_label_votes
    group by run_rounds.run_id, run_rounds.round_index, valid_votes.attempt_index
)

select * from final
