"""DDL of the `raw` schema: the only tables Python jobs write.

Every table is append-only. Each carries the natural key that makes re-running a step
idempotent (a job inserts only rows whose key is not there yet). dbt reads these tables as
sources (models/staging/*/_*__sources.yml); keep both in step.
"""

from __future__ import annotations

RAW_TABLES: dict[str, str] = {
    # --- ingest ---------------------------------------------------------------------------
    "ingest_batches": """
        create table if not exists raw.ingest_batches (
            batch_id          varchar primary key,   -- sha256 of (source, file bytes)
            source            varchar not null,      -- fbl | catalog | completejourney | reviews
            source_file       varchar not null,
            file_sha256       varchar not null,
            rows_loaded       integer not null,
            rows_quarantined  integer not null,
            ingested_at       timestamp not null
        )""",
    "gx_validation_results": """
        create table if not exists raw.gx_validation_results (
            validation_id              varchar primary key,  -- hash(checkpoint, suite, GX run time)
            checkpoint                 varchar not null,     -- fbl | catalogue | baskets | reviews | annotator_calls
            suite                      varchar not null,     -- python_jobs/ingest/gx/expectations/<suite>.json
            batch_id                   varchar,              -- the ingest batch validated; null for annotator calls
            run_id                     varchar,              -- the run whose calls were validated
            success                    boolean not null,
            evaluated_expectations     integer not null,
            successful_expectations    integer not null,
            unsuccessful_expectations  integer not null,
            unexpected_rows            integer not null,     -- rows failing at least one expectation
            n_rows                     integer not null,
            gx_run_id                  varchar not null,     -- GX's run time: the stored result in gx/uncommitted/validations
            result_json                varchar not null,     -- per expectation: type, column, success, unexpected_count
            seconds                    double not null,
            validated_at               timestamp not null
        )""",
    "quarantine": """
        create table if not exists raw.quarantine (
            batch_id     varchar not null,
            source       varchar not null,
            source_file  varchar not null,
            source_line  integer,                   -- 1-based physical line in the file; null when not line-based
            raw_line     varchar,                   -- the line (or row) exactly as read
            reason       varchar not null,
            ingested_at  timestamp not null,
            primary key (batch_id, source_line, reason)
        )""",
    "ingest_retractions": """
        create table if not exists raw.ingest_retractions (
            batch_id      varchar primary key,      -- a raw.ingest_batches batch taken back by `karl ingest undo`
            reason        varchar not null,
            retracted_at  timestamp not null
        )""",
    # Legacy: what `karl ingest fbl` landed before the FBL files became labelled datasets like any
    # other (now raw.labelled_judgements). Still read (LIVE_LABELLED_JUDGEMENTS), no longer written.
    "fbl_judgements": """
        create table if not exists raw.fbl_judgements (
            dataset          varchar not null,      -- FBL2023 | FBL2024 (file stem)
            source_line      integer not null,      -- 1-based line of the pair in the file (header = 1)
            item_a_url       varchar not null,
            item_a_id        varchar not null,      -- stable id derived from the URL
            item_a_title     varchar not null,
            item_b_url       varchar not null,
            item_b_id        varchar not null,
            item_b_title     varchar not null,
            annotator_slot   integer not null,      -- 1..3: column group in the file
            annotator_id     varchar not null,
            raw_label        integer not null,
            label_scheme     varchar not null,      -- fbl9 (codes 1..9) | relation3 (1 sub, 2 comp, 3 other)
            batch_id         varchar not null,
            ingested_at      timestamp not null,
            primary key (dataset, item_a_id, item_b_id, annotator_slot)
        )""",
    # Every labelled dataset (`karl ingest labels`, `karl ingest fbl`): one row per judgement.
    # A re-ingest of a dataset with other rows is a new version (its own batch); staging serves
    # the latest live batch of each dataset (stg_karl__labelled_judgements).
    "labelled_judgements": """
        create table if not exists raw.labelled_judgements (
            dataset          varchar not null,      -- the dataset's name (--dataset; FBL2023 | FBL2024 for the FBL files)
            source_line      integer not null,      -- 1-based line (row) of the judgement in the file (header = 1)
            item_a_id        varchar not null,      -- namespaced id (`<catalog>:<id>`)
            item_b_id        varchar not null,
            item_a_title     varchar,               -- null when the item is known to the warehouse already
            item_b_title     varchar,
            item_a_url       varchar,
            item_b_url       varchar,
            catalog          varchar not null,      -- namespace of items created from this dataset's titles
            annotator_slot   integer not null,      -- 1..n: the annotator's place among the pair's judgements
            annotator_id     varchar not null,
            raw_label        integer not null,      -- the code under label_scheme
            label_scheme     varchar not null,      -- fbl9 (codes 1..9) | relation3 (1 sub, 2 comp, 3 other)
            batch_id         varchar not null,
            ingested_at      timestamp not null,
            primary key (batch_id, dataset, item_a_id, item_b_id, annotator_slot)
        )""",
    "catalog_items": """
        create table if not exists raw.catalog_items (
            catalog       varchar not null,         -- name of the catalogue (file stem or 'completejourney')
            item_id       varchar not null,
            title         varchar not null,
            category_l1   varchar,
            category_l2   varchar,
            category_l3   varchar,
            batch_id      varchar not null,
            ingested_at   timestamp not null,
            primary key (catalog, item_id, batch_id)  -- a changed row of a re-ingested catalogue is a new version
        )""",
    "basket_lines": """
        create table if not exists raw.basket_lines (
            catalog       varchar not null,         -- catalogue whose items were bought (e.g. 'completejourney')
            basket_id     varchar not null,
            item_id       varchar not null,         -- the catalogue item (completejourney: a product)
            household_id  varchar,
            week          integer,                  -- first week the basket was seen (source week number)
            n_lines       integer not null,         -- transaction lines of this item in the basket
            quantity      double,
            sales_value   double,
            batch_id      varchar not null,
            ingested_at   timestamp not null
            -- natural key (catalog, basket_id, item_id): kept by the ingest's anti-join, not an
            -- index (an index over 1.2 M rows costs ~6 s and ~500 MB at insert)
        )""",
    # --- features -------------------------------------------------------------------------
    "item_vectors": """
        create table if not exists raw.item_vectors (
            feature_set   varchar not null,         -- version string of the featuriser + its params
            item_id       varchar not null,
            vector        float[] not null,
            created_at    timestamp not null,
            primary key (feature_set, item_id)
        )""",
    "item_sparse_vectors": """
        create table if not exists raw.item_sparse_vectors (
            feature_set   varchar not null,         -- version string of the sparse featuriser + its params
            item_id       varchar not null,
            indices       integer[] not null,       -- column indices, strictly increasing
            vals          float[] not null,         -- the values at those columns
            dim           integer not null,         -- number of columns (vocabulary size)
            created_at    timestamp not null,
            primary key (feature_set, item_id)
        )""",
    "item_categories": """
        create table if not exists raw.item_categories (
            category_set     varchar not null,      -- e.g. 'induced:<feature_set>:k=..' or 'catalog:<name>'
            item_id          varchar not null,
            fine_category    varchar not null,
            parent_category  varchar not null,
            created_at       timestamp not null,
            primary key (category_set, item_id)
        )""",
    # --- runs and rounds ------------------------------------------------------------------
    "runs": """
        create table if not exists raw.runs (
            run_id        varchar primary key,
            strategy      varchar not null,         -- qbc | margin | random
            annotator     varchar not null,         -- replay | simulated | openai
            seed          integer not null,
            rounds        integer not null,
            budget        integer not null,
            config_json   varchar not null,         -- full RunConfig as JSON (never secrets)
            created_at    timestamp not null
        )""",
    "run_steps": """
        create table if not exists raw.run_steps (
            run_id        varchar not null,
            round_index   integer not null,
            step          varchar not null,         -- train | select | annotate | build | evaluate
            seconds       double not null,
            completed_at  timestamp not null,
            primary key (run_id, round_index, step)
        )""",
    "run_artifacts": """
        create table if not exists raw.run_artifacts (
            run_id        varchar not null,
            name          varchar not null,         -- e.g. hyperparameters, feature_set, category_set
            value_json    varchar not null,
            created_at    timestamp not null,
            primary key (run_id, name)
        )""",
    "selections": """
        create table if not exists raw.selections (
            run_id             varchar not null,
            round_index        integer not null,
            pair_key           varchar not null,
            item_a_id          varchar not null,
            item_b_id          varchar not null,
            fine_category      varchar,
            strategy           varchar not null,
            uncertainty_score  double not null,
            reference_relation_label varchar,       -- known label where one exists (replay, simulated), else null
            selected_at        timestamp not null,
            primary key (run_id, round_index, pair_key)
        )""",
    "llm_calls": """
        create table if not exists raw.llm_calls (
            call_id            varchar primary key,  -- deterministic: hash(run, round, pair, attempt)
            run_id             varchar not null,
            round_index        integer not null,
            pair_key           varchar not null,
            item_a_id          varchar not null,
            item_b_id          varchar not null,
            attempt_index      integer not null,     -- 1..K
            annotator_kind     varchar not null,     -- openai | replay | simulated | human
            model              varchar not null,
            prompt_version     varchar not null,
            prompt_hash        varchar not null,
            request_params     varchar,              -- JSON (temperature, seed, response_format, ...)
            raw_response       varchar,
            fbl_label          integer,              -- parsed 9-class label, null when invalid / not given
            relation_label     varchar,              -- substitute | complement | other, null when invalid
            is_valid           boolean not null,
            error_class        varchar,              -- null when valid
            retries            integer not null default 0,
            tokens_in          integer,
            tokens_out         integer,
            cost_usd           double,
            latency_ms         double,
            created_at         timestamp not null,
            cache_key          varchar,              -- openai: hash of all that changes the answer (attempt included)
            label_prob         double,               -- exp(logprob) of the label token, when the server gave logprobs
            confidence_kind    varchar,              -- openai: what label_prob is, or why it is null
            error_retryable    boolean               -- openai: the failure was of a retried kind; null when valid
        )""",
    "llm_call_intents": """
        create table if not exists raw.llm_call_intents (
            call_id        varchar primary key,     -- the llm_calls row this request will become
            run_id         varchar not null,
            round_index    integer not null,
            pair_key       varchar not null,
            attempt_index  integer not null,
            sent_at        timestamp not null       -- committed before the request is sent
        )""",
    # The Batch API journal (annotators/openai_batch.py): a row is committed before a batch is
    # uploaded, so a killed process resumes the same batch and never submits twice.
    "llm_batches": """
    create table if not exists raw.llm_batches (
        batch_key        varchar primary key,   -- hash(run, round, sequence): one per submission
        run_id           varchar not null,
        round_index      integer not null,
        sequence         integer not null,      -- 1, 2, ...: a later batch holds calls an earlier one left
        call_ids         varchar not null,      -- JSON list of the call ids the batch asks
        batch_id         varchar,               -- the provider's id, written as soon as known
        status           varchar not null,      -- submitting | submitted | recorded | failed
        provider_status  varchar,               -- the batch's last polled status
        created_at       timestamp not null,
        finished_at      timestamp
    )""",
    # `karl judge` (annotators/judge.py): one row per measurement of an annotator against the
    # human labels, and the pairs it sampled. Its calls are raw.llm_calls rows with run_id = judge_id.
    "judge_runs": """
        create table if not exists raw.judge_runs (
            judge_id        varchar primary key,
            models          varchar not null,       -- the panel, comma-separated (one model: that model)
            prompt_version  varchar not null,
            prompt_hash     varchar not null,
            few_shot        varchar not null,       -- none | fixed | balanced | nearest (with k: 'nearest:3')
            k_calls         integer not null,
            per_class       integer not null,       -- pairs sampled per stratum, at most
            seed            integer not null,
            n_pairs         integer not null,
            status          varchar not null,       -- annotating | complete
            config_json     varchar not null,       -- the annotator config (no secrets)
            created_at      timestamp not null,
            completed_at    timestamp
        )""",
    "judge_samples": """
        create table if not exists raw.judge_samples (
            judge_id        varchar not null,
            pair_key        varchar not null,
            dataset         varchar not null,       -- FBL2023 (judge reserve) | FBL2024 (pool half)
            stratum         varchar not null,       -- dataset:label the sample was stratified by
            item_a_id       varchar not null,
            item_b_id       varchar not null,
            primary key (judge_id, pair_key)
        )""",
    "bag_members": """
        create table if not exists raw.bag_members (
            run_id          varchar not null,
            round_index     integer not null,
            member_index    integer not null,       -- 0..M-1
            relation_class  varchar not null,
            n_samples       integer not null,
            created_at      timestamp not null,
            primary key (run_id, round_index, member_index, relation_class)
        )""",
    "round_metrics": """
        create table if not exists raw.round_metrics (
            run_id            varchar not null,
            round_index       integer not null,
            metrics_json      varchar not null,     -- every figure of the round (see evaluation.py)
            created_at        timestamp not null,
            primary key (run_id, round_index)
        )""",
    "pool_predictions": """
        create table if not exists raw.pool_predictions (
            run_id          varchar not null,
            round_index     integer not null,
            pair_key        varchar not null,
            predicted_class varchar not null,
            created_at      timestamp not null,
            primary key (run_id, round_index, pair_key)
        )""",
    # --- predictions (python_jobs/prediction/) ----------------------------------------------
    # A run's final ensemble, recorded when its last round trains: the stacked member weights
    # (float32, what the scan scores with) and the training labels it was fitted on.
    "model_versions": """
        create table if not exists raw.model_versions (
            model_version     varchar primary key,  -- <run_id>:r<round>:<weights_sha256[:12]>
            run_id            varchar not null,
            round_index       integer not null,     -- the round whose ensemble this is (the run's last)
            n_members         integer not null,
            classes_json      varchar not null,     -- class names in probability-column order
            features          varchar not null,     -- the run's --features (features/sets.py)
            feature_sets_json varchar not null,     -- component -> stored feature set the weights index
            layout_json       varchar not null,     -- the pair layout's blocks (learning/scoring_sparse.PairLayout)
            weights_sha256    varchar not null,     -- sha256 of the float32 W and b (prediction/model_store.py)
            weights           blob not null,        -- compressed npz: W (F, M*C) float32, b (M*C,) float32
            n_training_labels integer not null,
            created_at        timestamp not null
        )""",
    "model_training_labels": """
        create table if not exists raw.model_training_labels (
            model_version      varchar not null,
            training_label_id  varchar not null,    -- marts.fct_training_labels.training_label_id
            primary key (model_version, training_label_id)
        )""",
    "pair_predictions": """
        create table if not exists raw.pair_predictions (
            model_version     varchar not null,     -- raw.model_versions
            pair_key          varchar not null,     -- its two item ids: smaller '~' larger
            p_substitute      float not null,       -- mean of the members' probabilities
            p_complement      float not null,
            p_other           float not null,
            predicted_class   varchar not null,     -- argmax of the mean
            uncertainty       float not null,       -- margin uncertainty 1 - (p1 - p2) of the mean
            predicted_at      timestamp not null
            -- natural key (model_version, pair_key): kept by `karl predict`'s anti-join, not an
            -- index (an index over a million predictions costs seconds and hundreds of MB)
        )""",
    "human_reviews": """
        create table if not exists raw.human_reviews (
            review_id       varchar primary key,    -- hash(pair_key, reviewer, batch)
            pair_key        varchar not null,
            item_a_id       varchar not null,
            item_b_id       varchar not null,
            reviewer_id     varchar not null,
            fbl_label       integer,
            relation_label  varchar not null,
            note            varchar,
            batch_id        varchar not null,
            ingested_at     timestamp not null
        )""",
}


# Additive column changes for warehouse files created before the column existed.
RAW_MIGRATIONS: list[str] = [
    "alter table raw.llm_calls add column if not exists cache_key varchar",
    "alter table raw.llm_calls add column if not exists label_prob double",
    "alter table raw.llm_calls add column if not exists confidence_kind varchar",
    "alter table raw.llm_calls add column if not exists error_retryable boolean",
]


def create_raw_tables(con) -> None:  # noqa: ANN001 - duckdb connection
    """Create the raw schema and every raw table if missing (idempotent)."""
    con.execute("create schema if not exists raw")
    for ddl in RAW_TABLES.values():
        con.execute(ddl)
    for statement in RAW_MIGRATIONS:
        con.execute(statement)
    _version_catalog_items(con)


def _version_catalog_items(con) -> None:  # noqa: ANN001 - duckdb connection
    """Warehouses created before catalogue items were versioned key raw.catalog_items by
    (catalog, item_id), which refuses a second version. DuckDB cannot change a primary key, so
    the table is copied once into the new key (rows unchanged, raw stays append-only)."""
    keys = con.execute("""
        select constraint_column_names
        from duckdb_constraints()
        where schema_name = 'raw' and table_name = 'catalog_items' and constraint_type = 'PRIMARY KEY'
    """).fetchall()  # fetchall: a half-read table-function result blocks the connection
    if [list(key) for (key,) in keys] != [["catalog", "item_id"]]:
        return
    con.execute("begin transaction")
    try:
        con.execute("alter table raw.catalog_items rename to catalog_items_unversioned")
        con.execute(RAW_TABLES["catalog_items"])
        con.execute("insert into raw.catalog_items select * from raw.catalog_items_unversioned")
        con.execute("drop table raw.catalog_items_unversioned")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
