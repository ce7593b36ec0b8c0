with

valid_votes as (
    select * from {{ ref('int_consensus_votes_valid') }}
),

voters as (
    select * from {{ ref('int_consensus_voters_weighted') }}
),

-- One-coin Dawid-Skene, one M-step: a vote weighs ln(2 p / (1 - p)) (3 classes), p its voter's
-- agreement (0.5, weight ln 2, for a voter never judged); a label scores the sum of its weights.
label_scores as (
    select
        valid_votes.run_id,
        valid_votes.round_index,
        valid_votes.pair_key,
        valid_votes.relation_label,
        sum(ln(2.0 * coalesce(voters.agreement, 0.5) / (1.0 - coalesce(voters.agreement, 0.5))))
            as label_score
    from valid_votes
    left join voters
        on
            valid_votes.run_id = voters.run_id
            and valid_votes.round_index = voters.round_index
            and valid_votes.attempt_index = voters.attempt_index
    group by valid_votes.run_id, valid_votes.round_index, valid_votes.pair_key, valid_votes.relation_label
),

-- posterior of the best label: e^s_best / (sum over voted labels e^s + e^0 per unvoted class)
final as (
    select
        run_id,
        round_index,
        pair_key,
        max_by(relation_label, label_score) as weighted_label,
        exp(max(label_score)) / (sum(exp(label_score)) + (3 - count(*))) as weighted_posterior
    from label_scores
    group by run_id, round_index, pair_key
)

select * from final
