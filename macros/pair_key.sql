{#- Order-free key of a pair (A,B and B,A are one pair). Mirrors python_jobs/warehouse/keys.py (pair_key). -#}
{% macro pair_key(item_a_id, item_b_id) -%}
    case
        when {{ item_a_id }} <= {{ item_b_id }}
            then {{ item_a_id }} || '~' || {{ item_b_id }}
        else {{ item_b_id }} || '~' || {{ item_a_id }}
    end
{%- endmacro %}
