{#- The values of a group as an array, in the order of `order_by` (a list of columns), per adapter.
    Spark's collect_list has no ORDER BY: it sorts structs of (order keys..., value) instead, then
    keeps the values. Nulls: DuckDB keeps null values in the array, Spark drops them (karl only
    aggregates non-null ids). -#}
{% macro array_agg_ordered(value, order_by=[]) -%}
    {{ return(adapter.dispatch('array_agg_ordered', 'karl')(value, order_by)) }}
{%- endmacro %}

{% macro default__array_agg_ordered(value, order_by=[]) -%}
    array_agg({{ value }}{% if order_by %} order by {{ order_by | join(', ') }}{% endif %})
{%- endmacro %}

{% macro spark__array_agg_ordered(value, order_by=[]) -%}
    {%- if order_by -%}
        transform(
            array_sort(collect_list(struct(
                {%- for column in order_by %}{{ column }} as k{{ loop.index }}, {% endfor %}{{ value }} as v))),
            sorted -> sorted.v
        )
    {%- else -%}
        collect_list({{ value }})
    {%- endif -%}
{%- endmacro %}
