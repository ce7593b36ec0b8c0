{#- The text of a top-level key of a JSON string column (null when absent), per adapter. -#}
{% macro json_text(json_column, key) -%}
    {{ return(adapter.dispatch('json_text', 'karl')(json_column, key)) }}
{%- endmacro %}

{% macro default__json_text(json_column, key) -%}
    json_extract_string({{ json_column }}, '$.{{ key }}')
{%- endmacro %}

{% macro postgres__json_text(json_column, key) -%}
    ({{ json_column }}::json ->> '{{ key }}')
{%- endmacro %}
