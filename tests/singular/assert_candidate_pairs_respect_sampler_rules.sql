{#- Every candidate is a real pair (no self-pair), never an excluded (labelled or evaluation)
    pair, and the sampler's caps hold: at most karl_sampler_partners partners per query and at
    most karl_sampler_queries queries per fine category. Returns the offending rows. -#}
{{ config(tags=["karl_candidates"]) }}
with

candidates as (
    select * from {{ ref('fct_candidate_pairs') }}
),

excluded as (
    select * from {{ ref('int_candidate_pairs_excluded') }}
),

self_pairs as (
    select
        pair_key,
        'self_pair' as violation
    from candidates
    where item_a_id = item_b_id
),

excluded_pairs as (
    select
        candidates.pair_key,
        'excluded:' || excluded.exclusion_reason as violation
    from candidates
    inner join excluded on candidates.pair_key = excluded.pair_key
),

partner_caps as (
    select
        item_a_id as pair_key,
        'partners_over_cap' as violation
    from candidates
    where candidate_source = 'sampler'
    group by item_a_id
    having count(*) > {{ var('karl_sampler_partners') }}
),

query_caps as (
    select
        fine_category as pair_key,
        'queries_over_cap' as violation
    from candidates
    where candidate_source = 'sampler'
    group by fine_category
    having count(distinct item_a_id) > {{ var('karl_sampler_queries') }}
),

final as (
    select * from self_pairs
    union all
    select * from excluded_pairs
    union all
    select * from partner_caps
    union all
    select * from query_caps
)

select * from final
