{#- The labelled datasets a run gives a role (dbt vars karl_train_labels, karl_pool_labels,
    karl_eval_labels): a list of dataset names, or a comma-separated string. -#}
{% macro karl_datasets(var_name) -%}
    {%- set value = var(var_name) -%}
    {%- if value is string -%}
        {%- set value = value.split(',') -%}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for name in (value or []) -%}
        {%- if (name | string | trim) and (name | string | trim | lower) != 'none' -%}
            {%- do names.append(name | string | trim) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(names) -}}
{%- endmacro %}

{#- `column in (<the role's datasets>)`, or false when the role names none. -#}
{% macro in_datasets(column, var_name) -%}
    {%- set names = karl_datasets(var_name) -%}
    {%- if names | length == 0 -%}
        false
    {%- else -%}
        {{ column }} in (
            {%- for name in names -%}
                '{{ name | replace("'", "''") }}'{{ ", " if not loop.last }}
            {%- endfor -%}
        )
    {%- endif -%}
{%- endmacro %}

{#- A run's role as a comma-separated list of dataset names, from the JSON array at `key` of its
    config ('["A", "B"]' -> 'A,B'; '[]' -> ''); `default` for runs recorded before roles existed. -#}
{% macro json_name_list(json_column, key, default) -%}
    coalesce(
        replace(replace(replace(replace(
            {{ json_fragment(json_column, '$.' ~ key) }}, '[', ''), ']', ''), '"', ''), ' ', ''),
        '{{ default }}'
    )
{%- endmacro %}
