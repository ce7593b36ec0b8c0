with

bag_members as (
    select * from {{ source('karl', 'bag_members') }}
),

member_totals as (
    select
        run_id,
        round_index,
        member_index,
        count(*) as n_member_classes,
        sum(n_samples) as member_samples,
        min(n_samples) as min_class_samples,
        max(n_samples) as max_class_samples
    from bag_members
    group by run_id, round_index, member_index
),

round_classes as (
    select
        run_id,
        round_index,
        count(distinct relation_class) as n_round_classes
    from bag_members
    group by run_id, round_index
),

final as (
    select
        bag_members.run_id,
        bag_members.round_index,
        bag_members.member_index,
        bag_members.relation_class,
        bag_members.n_samples,
        member_totals.member_samples,
        -- Balanced: every class of the round is in the member, each with the same count.
        (
            member_totals.min_class_samples = member_totals.max_class_samples
            and member_totals.n_member_classes = round_classes.n_round_classes
        ) as is_member_balanced,
        bag_members.created_at
    from bag_members
    inner join member_totals
        on
            bag_members.run_id = member_totals.run_id
            and bag_members.round_index = member_totals.round_index
            and bag_members.member_index = member_totals.member_index
    inner join round_classes
        on
            bag_members.run_id = round_classes.run_id
            and bag_members.round_index = round_classes.round_index
)

select * from final
