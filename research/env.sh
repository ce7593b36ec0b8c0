export PYTHONPATH=/work/wt-features KARL_DUCKDB_PATH=/work/wt-features/warehouse/x.duckdb
export KARL_DBT_TARGET_PATH=/work/wt-features/target_x KARL_FBL_DIR=/work/shared/data/fbl_askul
export DBT_SEND_ANONYMOUS_USAGE_STATS=false GX_ANALYTICS_ENABLED=false
PY=/work/main/.venv/bin/python
