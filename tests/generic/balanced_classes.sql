{#-
    Class balance of bagging members: within each member (member_columns) every class has the
    same count, and every member holds every class seen in its round (round_columns).
    Fails with one row per unbalanced member.
-#}
{% test balanced_classes(model, member_columns, round_columns, class_column, count_column) %}

with

members as (
    select
        {{ member_columns | join(', ') }},
        count(distinct {{ class_column }}) as n_member_classes,
        min({{ count_column }}) as min_class_count,
        max({{ count_column }}) as max_class_count
    from {{ model }}
    group by {{ member_columns | join(', ') }}
),

rounds as (
    select
        {{ round_columns | join(', ') }},
        count(distinct {{ class_column }}) as n_round_classes
    from {{ model }}
    group by {{ round_columns | join(', ') }}
),

final as (
    select
        members.*,
        rounds.n_round_classes
    from members
    inner join rounds
        on
        {%- for column in round_columns %}
            {% if not loop.first %}and {% endif %}members.{{ column }} = rounds.{{ column }}
        {%- endfor %}
    where
        members.min_class_count <> members.max_class_count
        or members.n_member_classes <> rounds.n_round_classes
)

select * from final

{% endtest %}
