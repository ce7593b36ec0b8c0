{#- on-run-start: say what the target cannot do, instead of failing or skipping in silence.
    Returns no SQL (an empty hook). -#}
{% macro karl_engine_notes() -%}
    {%- if execute and target.type == 'spark' -%}
        {%- set file_format = env_var('KARL_SPARK_FILE_FORMAT', 'delta' if target.name == 'databricks' else 'parquet') -%}
        {%- if file_format not in ('delta', 'iceberg', 'hudi') -%}
            {%- do log(
                "karl on Spark with " ~ file_format ~ " tables: snapshot snap_training_labels is skipped "
                ~ "(a snapshot merges, which needs Delta/Iceberg/Hudi), and the contracts' not_null "
                ~ "constraints are checked by the data tests only. Databricks (Delta) runs both.",
                info=true
            ) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
