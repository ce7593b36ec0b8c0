with

ingest_batches as (
    select * from {{ source('karl', 'ingest_batches') }}
),

final as (
    select
        batch_id,
        source,
        source_file,
        file_sha256,
        rows_loaded,
        rows_quarantined,
        ingested_at
    from ingest_batches
)

select * from final
