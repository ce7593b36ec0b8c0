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

{% macro spark__json_text(json_column, key) -%}
    get_json_object({{ json_column }}, '$.{{ key }}')
{%- endmacro %}

{#- The JSON text at a path of a JSON string column (an object or array stays JSON), null when the
    path is absent or the text is not JSON. -#}
{% macro json_fragment(json_column, path) -%}
    {{ return(adapter.dispatch('json_fragment', 'karl')(json_column, path)) }}
{%- endmacro %}

{% macro default__json_fragment(json_column, path) -%}
    cast(try(json_extract({{ json_column }}, '{{ path }}')) as {{ dbt.type_string() }})
{%- endmacro %}

{% macro spark__json_fragment(json_column, path) -%}
    get_json_object({{ json_column }}, '{{ path }}')
{%- endmacro %}
