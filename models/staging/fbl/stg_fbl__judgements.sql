with

judgements_all as (
    select * from {{ source('fbl', 'fbl_judgements') }}
),

retractions as (
    select * from {{ source('karl_ingest', 'ingest_retractions') }}
),

-- Rows of a batch retracted by `karl ingest undo` are left out (raw stays append-only).
judgements as (
    select judgements_all.*
    from judgements_all
    left join retractions
        on judgements_all.batch_id = retractions.batch_id
    where retractions.batch_id is null
),

fbl_classes as (
    select * from {{ ref('fbl_classes') }}
),

relation_classes as (
    select * from {{ ref('relation_classes') }}
),

final as (
    select
        judgements.dataset
        || ':' || judgements.item_a_id
        || '>' || judgements.item_b_id
        || ':' || cast(judgements.annotator_slot as {{ dbt.type_string() }}) as judgement_id,
        judgements.dataset,
        judgements.source_line,
        {{ pair_key('judgements.item_a_id', 'judgements.item_b_id') }} as pair_key,
        judgements.item_a_id,
        judgements.item_b_id,
        judgements.item_a_url,
        judgements.item_b_url,
        judgements.item_a_title,
        judgements.item_b_title,
        judgements.annotator_slot,
        judgements.annotator_id,
        judgements.label_scheme,
        judgements.raw_label,
        fbl_classes.fbl_code as fbl_label,
        fbl_classes.direction as fbl_direction,
        coalesce(fbl_classes.relation_class, relation_classes.relation_class) as relation_label,
        judgements.batch_id,
        judgements.ingested_at
    from judgements
    left join fbl_classes
        on
            judgements.label_scheme = 'fbl9'
            and judgements.raw_label = fbl_classes.fbl_code
    left join relation_classes
        on
            judgements.label_scheme = 'relation3'
            and judgements.raw_label = relation_classes.relation_code
)

select * from final
