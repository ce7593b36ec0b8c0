{#-
    One row per (run_id, round_index) with LLM calls: how often the K votes agree, Fleiss' kappa
    over them, and what unanimity costs in coverage and buys in accuracy against majority voting.
-#}
with

votes as (
    select * from {{ ref('int_llm_votes_tallied') }}
),

per_pair as (
    select
        *,
        -- Fleiss' P_i: share of agreeing rater pairs among the valid votes of one subject
        case
            when n_valid_calls >= 2
                then
                    cast(
                        n_substitute_votes * n_substitute_votes
                        + n_complement_votes * n_complement_votes
                        + n_other_votes * n_other_votes
                        - n_valid_calls
                        as double
                    )
                    / (n_valid_calls * (n_valid_calls - 1))
        end as pair_agreement
    from votes
),

per_round as (
    select
        run_id,
        round_index,
        min(strategy) as strategy,
        count(*) as n_pairs,
        cast(sum(n_calls) as bigint) as n_calls,
        cast(sum(n_valid_calls) as bigint) as n_valid_calls,
        cast(sum(n_invalid_calls) as bigint) as n_invalid_calls,
        count(case when is_unanimous then 1 end) as n_unanimous_pairs,
        count(case when is_majority then 1 end) as n_majority_pairs,
        count(case when is_majority and not is_unanimous then 1 end) as n_majority_only_pairs,
        count(case when majority_relation_label = 'substitute' then 1 end) as n_majority_substitute,
        count(case when majority_relation_label = 'complement' then 1 end) as n_majority_complement,
        count(case when majority_relation_label = 'other' then 1 end) as n_majority_other,
        count(case when unanimous_relation_label = 'substitute' then 1 end) as n_unanimous_substitute,
        count(case when unanimous_relation_label = 'complement' then 1 end) as n_unanimous_complement,
        count(case when unanimous_relation_label = 'other' then 1 end) as n_unanimous_other,
        -- Fleiss' kappa, generalised to subjects with at least two valid votes
        count(case when pair_agreement is not null then 1 end) as n_kappa_pairs,
        avg(pair_agreement) as mean_pair_agreement,
        cast(sum(case when pair_agreement is not null then n_substitute_votes else 0 end) as double)
        / nullif(sum(case when pair_agreement is not null then n_valid_calls else 0 end), 0) as p_substitute,
        cast(sum(case when pair_agreement is not null then n_complement_votes else 0 end) as double)
        / nullif(sum(case when pair_agreement is not null then n_valid_calls else 0 end), 0) as p_complement,
        cast(sum(case when pair_agreement is not null then n_other_votes else 0 end) as double)
        / nullif(sum(case when pair_agreement is not null then n_valid_calls else 0 end), 0) as p_other,
        count(case when is_unanimous and reference_relation_label is not null then 1 end)
            as n_unanimous_with_reference,
        count(
            case when is_unanimous and unanimous_relation_label = reference_relation_label then 1 end
        ) as n_unanimous_correct,
        count(case when is_majority and reference_relation_label is not null then 1 end)
            as n_majority_with_reference,
        count(
            case when is_majority and majority_relation_label = reference_relation_label then 1 end
        ) as n_majority_correct,
        count(
            case
                when is_majority and not is_unanimous and reference_relation_label is not null then 1
            end
        ) as n_majority_only_with_reference,
        count(
            case
                when
                    is_majority and not is_unanimous and majority_relation_label = reference_relation_label
                    then 1
            end
        ) as n_majority_only_correct
    from per_pair
    group by run_id, round_index
),

final as (
    select
        run_id,
        round_index,
        strategy,
        n_pairs,
        n_calls,
        n_valid_calls,
        n_invalid_calls,
        n_unanimous_pairs,
        cast(n_unanimous_pairs as double) / n_pairs as unanimity_rate,
        cast(n_unanimous_substitute as double) / nullif(n_majority_substitute, 0) as unanimity_rate_substitute,
        cast(n_unanimous_complement as double) / nullif(n_majority_complement, 0) as unanimity_rate_complement,
        cast(n_unanimous_other as double) / nullif(n_majority_other, 0) as unanimity_rate_other,
        n_kappa_pairs,
        round(
            (
                mean_pair_agreement
                - (p_substitute * p_substitute + p_complement * p_complement + p_other * p_other)
            )
            / nullif(1 - (p_substitute * p_substitute + p_complement * p_complement + p_other * p_other), 0),
            6
        ) as fleiss_kappa,
        n_majority_pairs,
        n_majority_only_pairs,
        cast(n_majority_pairs as double) / n_pairs as majority_coverage,
        cast(n_unanimous_pairs as double) / n_pairs as unanimity_coverage,
        n_unanimous_with_reference,
        cast(n_unanimous_correct as double) / nullif(n_unanimous_with_reference, 0) as unanimity_accuracy,
        n_majority_with_reference,
        cast(n_majority_correct as double) / nullif(n_majority_with_reference, 0) as majority_accuracy,
        n_majority_only_with_reference,
        cast(n_majority_only_correct as double) / nullif(n_majority_only_with_reference, 0)
            as majority_only_accuracy
    from per_round
)

select * from final
