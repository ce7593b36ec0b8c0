#!/usr/bin/env bash
# The 15-round margin run on a second pool/test split (issue 11). KARL_SPLIT_SEED moves the split
# for every build on the warehouse, so run it on a copy:
#   cp warehouse/karl.duckdb /tmp/split7.duckdb
#   KARL_DUCKDB_PATH=/tmp/split7.duckdb benchmarks/feature_research/split2.sh [ROUNDS] [SEED]
# The run records the split it was evaluated on (run artifact eval_split) and refuses to resume
# on another one.
set -euo pipefail
rounds=${1:-15}
export KARL_SPLIT_SEED=${2:-7}
karl run --strategy margin --rounds "$rounds" --annotator replay --seed 0 --run-id "split${KARL_SPLIT_SEED}_margin_s0"
