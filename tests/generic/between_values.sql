{#- Fails for every non-null value outside [min_value, max_value] (max_value none = no upper bound). -#}
{% test between_values(model, column_name, min_value, max_value=none) %}

with

final as (
    select {{ column_name }} as out_of_range_value
    from {{ model }}
    where
        {{ column_name }} is not null
        and (
            {{ column_name }} < {{ min_value }}
            {%- if max_value is not none %}
            or {{ column_name }} > {{ max_value }}
            {%- endif %}
        )
)

select * from final

{% endtest %}
