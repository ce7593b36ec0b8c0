with

quarantine as (
    select * from {{ source('karl', 'quarantine') }}
),

final as (
    select
        batch_id,
        source,
        source_file,
        source_line,
        raw_line,
        reason,
        ingested_at
    from quarantine
)

select * from final
