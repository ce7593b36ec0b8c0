with

labelled_judgements as (
    select * from {{ source('karl_ingest', 'labelled_judgements') }}
),

legacy_judgements as (
    select * from {{ source('karl_ingest', 'fbl_judgements') }}
),

retractions as (
    select * from {{ source('karl_ingest', 'ingest_retractions') }}
),

fbl_classes as (
    select * from {{ ref('fbl_classes') }}
),

relation_classes as (
    select * from {{ ref('relation_classes') }}
),

-- Rows of a batch retracted by `karl ingest undo` are left out (raw stays append-only).
live_labelled as (
    select labelled_judgements.*
    from labelled_judgements
    left join retractions
        on labelled_judgements.batch_id = retractions.batch_id
    where retractions.batch_id is null
),

-- A dataset re-ingested with other rows is a new batch: its latest live batch is its version.
dataset_batches as (
    select
        dataset,
        batch_id,
        row_number() over (
            partition by dataset
            order by max(ingested_at) desc, batch_id desc
        ) as batch_rank
    from live_labelled
    group by dataset, batch_id
),

current_labelled as (
    select live_labelled.*
    from live_labelled
    inner join dataset_batches
        on
            live_labelled.dataset = dataset_batches.dataset
            and live_labelled.batch_id = dataset_batches.batch_id
    where dataset_batches.batch_rank = 1
),

-- Rows landed in raw.fbl_judgements by an earlier karl, for datasets not loaded since.
current_legacy as (
    select
        legacy_judgements.dataset,
        legacy_judgements.source_line,
        legacy_judgements.item_a_id,
        legacy_judgements.item_b_id,
        legacy_judgements.item_a_title,
        legacy_judgements.item_b_title,
        legacy_judgements.item_a_url,
        legacy_judgements.item_b_url,
        'fbl' as catalog,
        legacy_judgements.annotator_slot,
        legacy_judgements.annotator_id,
        legacy_judgements.raw_label,
        legacy_judgements.label_scheme,
        legacy_judgements.batch_id,
        legacy_judgements.ingested_at
    from legacy_judgements
    left join retractions
        on legacy_judgements.batch_id = retractions.batch_id
    where
        retractions.batch_id is null
        and legacy_judgements.dataset not in (select dataset_batches.dataset from dataset_batches)
),

judgements as (
    select
        dataset,
        source_line,
        item_a_id,
        item_b_id,
        item_a_title,
        item_b_title,
        item_a_url,
        item_b_url,
        catalog,
        annotator_slot,
        annotator_id,
        raw_label,
        label_scheme,
        batch_id,
        ingested_at
    from current_labelled
    union all
    select * from current_legacy
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
        judgements.catalog,
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
