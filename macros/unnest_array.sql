{#- One row per element of an array column, as a select-list expression (DuckDB unnest, Spark explode). -#}
{% macro unnest_array(array_column) -%}
    {{ return(adapter.dispatch('unnest_array', 'karl')(array_column)) }}
{%- endmacro %}

{% macro default__unnest_array(array_column) -%}
    unnest({{ array_column }})
{%- endmacro %}

{% macro spark__unnest_array(array_column) -%}
    explode({{ array_column }})
{%- endmacro %}
