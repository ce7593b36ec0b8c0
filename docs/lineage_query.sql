-- Full provenance of a training label: one row per judgement, LLM call or review behind it.
-- Set the pair first (DuckDB), e.g.:  set variable pair_key = 'askul:1234567~askul:7654321';
-- For LLM labels: the run, round, strategy and uncertainty score at selection time, and each of
-- the K calls (model, prompt version, attempt, vote). For human labels: each annotator's
-- judgement and the dataset. For reviews: the reviewer's decision.
select
    lineage.training_label_id,
    lineage.label_source,
    lineage.relation_label,
    lineage.fbl_label,
    lineage.dataset,
    lineage.run_id,
    lineage.round_index,
    lineage.run_annotator,
    lineage.strategy,
    lineage.uncertainty_score,
    lineage.selected_at,
    lineage.source_kind,
    lineage.source_id,
    lineage.source_annotator,
    lineage.model,
    lineage.prompt_version,
    lineage.attempt_index,
    lineage.source_relation_label,
    lineage.source_raw_label,
    lineage.cost_usd,
    lineage.source_recorded_at
from marts.fct_label_lineage as lineage
where lineage.pair_key = getvariable('pair_key')
order by lineage.training_label_id, lineage.attempt_index, lineage.source_id;
