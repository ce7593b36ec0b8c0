{#- Fails for every combination of the given columns that occurs more than once (the grain). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

grain_counts as (
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
),

final as (
    select *
    from grain_counts
    where n_rows > 1
)

select * from final

{% endtest %}
