"""Ingest jobs: read a source, validate it (great-expectations + plain checks), quarantine the
bad rows with a reason, land the good rows in `raw`, idempotently per batch and per row key."""
