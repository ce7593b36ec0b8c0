-- The training label set run R trained on at round t, as it stood then (DuckDB), e.g.:
--   set variable run_id = 'replay-qbc-s0'; set variable round_index = 3;
-- Reads the snapshot snapshots.snap_training_labels (taken by every dbt build that includes
-- snapshots): the versions valid when round t's train step finished, minus LLM labels of other
-- runs and of rounds >= t. Timestamps are naive UTC on both sides.
with

round_trained as (
    select completed_at
    from raw.run_steps
    where
        run_id = getvariable('run_id')
        and round_index = getvariable('round_index')
        and step = 'train'
),

final as (
    select labels.*
    from snapshots.snap_training_labels as labels
    cross join round_trained
    where
        labels.dbt_valid_from <= round_trained.completed_at
        and (labels.dbt_valid_to is null or labels.dbt_valid_to > round_trained.completed_at)
        and (
            labels.label_source <> 'llm'
            or (labels.run_id = getvariable('run_id') and labels.round_index < getvariable('round_index'))
        )
)

select * from final;
