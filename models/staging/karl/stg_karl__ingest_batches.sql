with

ingest_batches as (
    select * from {{ source('karl', 'ingest_batches') }}
),

retractions as (
    select * from {{ source('karl_ingest', 'ingest_retractions') }}
),

final as (
    select
        ingest_batches.batch_id,
        ingest_batches.source,
        ingest_batches.source_file,
        ingest_batches.file_sha256,
        ingest_batches.rows_loaded,
        ingest_batches.rows_quarantined,
        ingest_batches.ingested_at,
        retractions.batch_id is not null as is_retracted,
        retractions.retracted_at
    from ingest_batches
    left join retractions
        on ingest_batches.batch_id = retractions.batch_id
)

select * from final
