{#- A struct value from (name, expression) pairs, compared field by field (an ordering key), per adapter. -#}
{% macro struct_of(fields) -%}
    {{ return(adapter.dispatch('struct_of', 'karl')(fields)) }}
{%- endmacro %}

{% macro default__struct_of(fields) -%}
    struct_pack({% for name, expression in fields %}{{ name }} := {{ expression }}{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}

{% macro spark__struct_of(fields) -%}
    named_struct({% for name, expression in fields %}'{{ name }}', {{ expression }}{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}
