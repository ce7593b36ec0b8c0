{#-
    One row per (run_id, round_index, matrix, reference_label, predicted_label): the confusion
    matrices of a round. matrix = 'id' (the pooled out-of-fold predictions of the ID CV against
    the FBL2023 human labels), 'ood' (the round's model on the FBL2024 test half) or 'annotator'
    (the majority of the K votes against the reference label, where the round has one: replay,
    the human majority; simulated, the known label). The model matrices come from the
    id_confusion_<true>_<predicted> / ood_confusion_<true>_<predicted> counts evaluation stores in
    raw.round_metrics; rounds evaluated before they were stored have no id/ood rows.
-#}
{%- set cells = [] %}
{%- for matrix in ['id', 'ood'] %}
    {%- for reference in ['substitute', 'complement', 'other'] %}
        {%- for predicted in ['substitute', 'complement', 'other'] %}
            {%- do cells.append((matrix, reference, predicted)) %}
        {%- endfor %}
    {%- endfor %}
{%- endfor %}

with

round_metrics as (
    select * from {{ ref('stg_karl__round_metrics') }}
),

votes as (
    select * from {{ ref('int_llm_votes_tallied') }}
),

model_cells as (
    {%- for matrix, reference, predicted in cells %}
        select
            run_id,
            round_index,
            '{{ matrix }}' as matrix,
            '{{ reference }}' as reference_label,
            '{{ predicted }}' as predicted_label,
            cast(
                {{ json_text('metrics_json', matrix ~ '_confusion_' ~ reference ~ '_' ~ predicted) }} as integer
            ) as n_pairs
        from round_metrics
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

annotator_cells as (
    select
        run_id,
        round_index,
        'annotator' as matrix,
        reference_relation_label as reference_label,
        coalesce(majority_relation_label, 'no_majority') as predicted_label,
        cast(count(*) as integer) as n_pairs
    from votes
    where reference_relation_label is not null
    group by run_id, round_index, reference_relation_label, coalesce(majority_relation_label, 'no_majority')
),

final as (
    select * from model_cells
    where n_pairs is not null
    union all
    select * from annotator_cells
)

select * from final
