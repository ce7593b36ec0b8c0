#!/usr/bin/env bash
# A margin run on a second pool/test split: rebuild fct_eval_sets with karl_split_seed 7 in the
# warehouse at $KARL_DUCKDB_PATH (use a copy), then run. Usage: KARL_DUCKDB_PATH=copy.duckdb split2.sh [ROUNDS]
set -euo pipefail
rounds=${1:-15}
python -c "
from python_jobs import warehouse
r = warehouse.run_dbt(['build', '--select', 'fct_eval_sets+', '--exclude', 'resource_type:unit_test'],
                      dbt_vars={'karl_split_seed': 7}, raise_on_failure=False)
print('split-7 build', r.success, r.failures)
"
python -m python_jobs.cli run --strategy margin --rounds "$rounds" --run-id "split7_margin_s0"
