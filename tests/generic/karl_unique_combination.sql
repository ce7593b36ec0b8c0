{#- Alias of unique_combination_of_columns taking `columns` (used by models/marts/runs). -#}
{% test karl_unique_combination(model, columns) %}
    {{ test_unique_combination_of_columns(model, columns) }}
{% endtest %}
