{#- A stable, seeded sort key for hash ordering (the sampler's determinism): md5 of the text,
    as a number where the adapter has one (DuckDB: md5_number, far cheaper to sort than the
    hex string), else the portable dbt.hash string. -#}
{% macro karl_hash_order(expression) -%}
    {{ return(adapter.dispatch('karl_hash_order')(expression)) }}
{%- endmacro %}

{% macro default__karl_hash_order(expression) -%}
    {{ dbt.hash(expression) }}
{%- endmacro %}

{% macro duckdb__karl_hash_order(expression) -%}
    md5_number({{ expression }})
{%- endmacro %}
