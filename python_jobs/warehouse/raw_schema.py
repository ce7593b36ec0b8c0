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
            primary key (catalog, item_id)
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
            cache_key          varchar               -- openai: hash of all that changes the answer (attempt included)
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
]


def create_raw_tables(con) -> None:  # noqa: ANN001 - duckdb connection
    """Create the raw schema and every raw table if missing (idempotent)."""
    con.execute("create schema if not exists raw")
    for ddl in RAW_TABLES.values():
        con.execute(ddl)
    for statement in RAW_MIGRATIONS:
        con.execute(statement)
