{#-
    The staging of raw.llm_calls, shared by stg_karl__llm_calls (a run's calls) and
    stg_karl__judge_calls (`karl judge`'s calls, run_id = judge_id): relation_label derived from
    the 9-class code through the fbl_classes seed, else the recorded 3-class label when known.
-#}
{% macro staged_llm_calls(judge_calls=false) %}
with

judge_runs as (
    select * from {{ source('karl_llm', 'judge_runs') }}
),

-- A judge's calls (run_id = judge_id) measure an annotator; a run's calls label its pairs.
llm_calls as (
    select * from {{ source('karl', 'llm_calls') }}
    where run_id {{ 'in' if judge_calls else 'not in' }} (select judge_runs.judge_id from judge_runs)
),

fbl_classes as (
    select * from {{ ref('fbl_classes') }}
),

relation_classes as (
    select * from {{ ref('relation_classes') }}
),

labelled as (
    select
        llm_calls.*,
        llm_calls.relation_label as recorded_relation_label,
        -- The 9-class label decides when the annotator gave one (seed mapping, not the
        -- annotator's own); otherwise the recorded 3-class label, if it is a known class.
        case
            when llm_calls.fbl_label is not null then fbl_classes.relation_class
            else relation_classes.relation_class
        end as derived_relation_label
    from llm_calls
    left join fbl_classes
        on llm_calls.fbl_label = fbl_classes.fbl_code
    left join relation_classes
        on lower(trim(llm_calls.relation_label)) = relation_classes.relation_class
),

final as (
    select
        call_id,
        run_id,
        round_index,
        pair_key,
        item_a_id,
        item_b_id,
        attempt_index,
        annotator_kind,
        model,
        prompt_version,
        prompt_hash,
        request_params,
        raw_response,
        fbl_label,
        recorded_relation_label,
        case when is_valid then derived_relation_label end as relation_label,
        is_valid,
        coalesce(is_valid and derived_relation_label is not null, false) as is_valid_vote,
        error_class,
        retries,
        tokens_in,
        tokens_out,
        cost_usd,
        latency_ms,
        created_at,
        cache_key,
        label_prob
    from labelled
)

select * from final
{% endmacro %}
