{#-
    Fails (use severity warn) for every group where one value of column_name makes up more than
    max_share of the group's non-null rows; max_share defaults to var karl_max_class_share.
-#}
{% test max_class_share(model, column_name, group_by, max_share=none) %}

{%- set limit = max_share if max_share is not none else var('karl_max_class_share') %}

with

class_counts as (
    select
        {{ group_by | join(', ') }},
        {{ column_name }} as class_value,
        count(*) as n_class_rows
    from {{ model }}
    where {{ column_name }} is not null
    group by {{ group_by | join(', ') }}, {{ column_name }}
),

shares as (
    select
        class_counts.*,
        sum(n_class_rows) over (partition by {{ group_by | join(', ') }}) as n_group_rows
    from class_counts
),

final as (
    select
        shares.*,
        1.0 * n_class_rows / n_group_rows as class_share,
        {{ limit }} as max_share
    from shares
    where 1.0 * n_class_rows / n_group_rows > {{ limit }}
)

select * from final

{% endtest %}
