. /work/wt-features/research/env.sh
export KARL_DUCKDB_PATH=/work/wt-features/warehouse/z.duckdb KARL_DBT_TARGET_PATH=/work/wt-features/target_z
cd /work/wt-features
$PY -c "
from python_jobs import warehouse
r = warehouse.run_dbt(['build', '--select', 'fct_eval_sets+', '--exclude', 'resource_type:unit_test'], dbt_vars={'karl_split_seed': 7}, raise_on_failure=False)
print('split-7 build', r.success, r.failures)
import duckdb; con = duckdb.connect('warehouse/z.duckdb', read_only=True)
print(con.execute(\"select eval_set, count(*), bit_xor(hash(pair_key)) from marts.fct_eval_sets group by 1 order by 1\").fetchall())
con.close()
"
time $PY -m python_jobs.cli run --strategy margin --rounds 6 --run-id split7_margin_s0 --tuning-trials 6
$PY -c "
import duckdb; con = duckdb.connect('warehouse/z.duckdb', read_only=True)
print(con.execute(\"select eval_set, count(*), bit_xor(hash(pair_key)) from marts.fct_eval_sets group by 1 order by 1\").fetchall())
"
