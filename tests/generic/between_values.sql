{#- Fails for every non-null value outside [min_value, max_value]. -#}
{% test between_values(model, column_name, min_value, max_value) %}

with

final as (
    select {{ column_name }} as out_of_range_value
    from {{ model }}
    where
        {{ column_name }} is not null
        and ({{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }})
)

select * from final

{% endtest %}
