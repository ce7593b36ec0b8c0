{%- set majority_rule = var('karl_majority_rule') -%}
{%- if majority_rule not in ['relation3', 'fbl9'] -%}
    {{ exceptions.raise_compiler_error(
        "var karl_majority_rule must be 'relation3' or 'fbl9', got '" ~ majority_rule ~ "'"
    ) }}
{%- endif -%}

with

judgements as (
    select * from {{ ref('stg_karl__labelled_judgements') }}
),

fbl_classes as (
    select * from {{ ref('fbl_classes') }}
),

-- A pair keeps the direction of its first row in the dataset (lowest source line).
pair_rows as (
    select distinct
        dataset,
        pair_key,
        source_line,
        item_a_id,
        item_b_id
    from judgements
),

ranked_pair_rows as (
    select
        pair_rows.*,
        row_number() over (
            partition by dataset, pair_key
            order by source_line, item_a_id
        ) as row_rank
    from pair_rows
),

pair_directions as (
    select
        dataset,
        pair_key,
        item_a_id,
        item_b_id
    from ranked_pair_rows
    where row_rank = 1
),

-- Judgements given on the reversed row (B,A) read their 9-class code through the seed's
-- reversed code, so every 9-class vote of a pair is in the pair's A->B direction.
oriented_judgements as (
    select
        judgements.dataset,
        judgements.pair_key,
        judgements.judgement_id,
        judgements.source_line,
        judgements.item_a_id,
        judgements.annotator_slot,
        judgements.relation_label,
        case
            when judgements.item_a_id = pair_directions.item_a_id then judgements.fbl_label
            else fbl_classes.reversed_fbl_code
        end as fbl_label
    from judgements
    inner join pair_directions
        on
            judgements.dataset = pair_directions.dataset
            and judgements.pair_key = pair_directions.pair_key
    left join fbl_classes
        on judgements.fbl_label = fbl_classes.fbl_code
),

pair_votes as (
    select
        dataset,
        pair_key,
        count(*) as n_judgements,
        -- the directions the pair is given in (A,B and B,A pool their votes)
        count(distinct item_a_id) as n_source_rows,
        count(relation_label) as n_relation_votes,
        count(fbl_label) as n_fbl_votes,
        sum(case when relation_label = 'substitute' then 1 else 0 end) as n_substitute_votes,
        sum(case when relation_label = 'complement' then 1 else 0 end) as n_complement_votes,
        sum(case when relation_label = 'other' then 1 else 0 end) as n_other_votes,
        {{ array_agg_ordered('judgement_id', ['source_line', 'annotator_slot']) }} as judgement_ids
    from oriented_judgements
    group by dataset, pair_key
),

relation_tallies as (
    select
        dataset,
        pair_key,
        relation_label,
        count(*) as n_votes
    from oriented_judgements
    where relation_label is not null
    group by dataset, pair_key, relation_label
),

fbl_tallies as (
    select
        dataset,
        pair_key,
        fbl_label,
        count(*) as n_votes
    from oriented_judgements
    where fbl_label is not null
    group by dataset, pair_key, fbl_label
),

-- A dataset judged by one annotator a pair (a team's own labels) needs its one vote; a dataset of
-- several annotators a pair (FBL: three) needs at least two.
dataset_votes_needed as (
    select
        dataset,
        least(2, max(n_judgements)) as min_majority_votes
    from pair_votes
    group by dataset
),

-- Majority: at least the dataset's votes needed and more than half of the votes cast. With three
-- judgements this is ">= 2 of 3"; a pair whose blank judgement was quarantined keeps a 2-of-2
-- majority; a pair given in both directions pools its up to 6 votes (4 of 6 needed).
relation_majorities as (
    select
        relation_tallies.dataset,
        relation_tallies.pair_key,
        relation_tallies.relation_label,
        relation_tallies.n_votes
    from relation_tallies
    inner join pair_votes
        on
            relation_tallies.dataset = pair_votes.dataset
            and relation_tallies.pair_key = pair_votes.pair_key
    inner join dataset_votes_needed
        on relation_tallies.dataset = dataset_votes_needed.dataset
    where
        relation_tallies.n_votes >= dataset_votes_needed.min_majority_votes
        and 2 * relation_tallies.n_votes > pair_votes.n_relation_votes
),

fbl_majorities as (
    select
        fbl_tallies.dataset,
        fbl_tallies.pair_key,
        fbl_tallies.fbl_label,
        fbl_tallies.n_votes,
        fbl_classes.relation_class
    from fbl_tallies
    inner join pair_votes
        on
            fbl_tallies.dataset = pair_votes.dataset
            and fbl_tallies.pair_key = pair_votes.pair_key
    inner join fbl_classes
        on fbl_tallies.fbl_label = fbl_classes.fbl_code
    inner join dataset_votes_needed
        on fbl_tallies.dataset = dataset_votes_needed.dataset
    where
        fbl_tallies.n_votes >= dataset_votes_needed.min_majority_votes
        and 2 * fbl_tallies.n_votes > pair_votes.n_fbl_votes
),

resolved as (
    select
        pair_votes.dataset,
        pair_votes.pair_key,
        pair_directions.item_a_id,
        pair_directions.item_b_id,
        -- 'fbl9' (the paper's rule): the majority on the raw label, i.e. on the 9-class code
        -- where the dataset has one (FBL2023), on the 3-class code otherwise.
        case
            when '{{ majority_rule }}' = 'fbl9' and pair_votes.n_fbl_votes > 0
                then fbl_majorities.relation_class
            else relation_majorities.relation_label
        end as relation_label,
        fbl_majorities.fbl_label,
        pair_votes.n_judgements,
        pair_votes.n_source_rows,
        pair_votes.n_substitute_votes,
        pair_votes.n_complement_votes,
        pair_votes.n_other_votes,
        pair_votes.judgement_ids
    from pair_votes
    inner join pair_directions
        on
            pair_votes.dataset = pair_directions.dataset
            and pair_votes.pair_key = pair_directions.pair_key
    left join relation_majorities
        on
            pair_votes.dataset = relation_majorities.dataset
            and pair_votes.pair_key = relation_majorities.pair_key
    left join fbl_majorities
        on
            pair_votes.dataset = fbl_majorities.dataset
            and pair_votes.pair_key = fbl_majorities.pair_key
),

final as (
    select
        dataset,
        pair_key,
        item_a_id,
        item_b_id,
        relation_label,
        fbl_label,
        relation_label is not null as has_majority,
        -- Only the run's train datasets (var karl_train_labels) train.
        (relation_label is not null and {{ in_datasets('dataset', 'karl_train_labels') }}) as is_trainable,
        '{{ majority_rule }}' as majority_rule,
        n_judgements,
        n_source_rows,
        n_source_rows > 1 as is_given_both_directions,
        n_substitute_votes,
        n_complement_votes,
        n_other_votes,
        judgement_ids
    from resolved
)

select * from final
