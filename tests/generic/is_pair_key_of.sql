{#- Fails for every row whose pair key is not the canonical key of its two items (macro pair_key). -#}
{% test is_pair_key_of(model, column_name, item_a_column, item_b_column) %}

with

final as (
    select
        {{ column_name }} as given_pair_key,
        {{ pair_key(item_a_column, item_b_column) }} as expected_pair_key
    from {{ model }}
    where {{ column_name }} <> {{ pair_key(item_a_column, item_b_column) }}
)

select * from final

{% endtest %}
