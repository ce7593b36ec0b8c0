{#- A stable, seeded sort key for hash ordering (the sampler's determinism): md5 of the text,
    as a number where the adapter has one (DuckDB: md5_number, far cheaper to sort than the
    hex string), else the portable dbt.hash string. -#}
{% macro karl_hash_order(expression) -%}
    {{ return(adapter.dispatch("karl_hash_order", "karl")(expression)) }}
{%- endmacro %}

{% macro default__karl_hash_order(expression) -%}
    {{ dbt.hash(expression) }}
{%- endmacro %}

{% macro duckdb__karl_hash_order(expression) -%}
    md5_number({{ expression }})
{%- endmacro %}

{#- Spark has no 128-bit integer. DuckDB's md5_number is (bytes 8..15, then bytes 0..7 of the md5),
    each read little-endian; the same bytes as fixed-width hex in that order sort exactly as the
    number does, so both engines draw the same sample. -#}
{% macro spark__karl_hash_order(expression) -%}
    {%- set byte_order = [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0] -%}
    concat(
        {%- for byte in byte_order %}
        substr(md5({{ expression }}), {{ 2 * byte + 1 }}, 2){{ "," if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}
