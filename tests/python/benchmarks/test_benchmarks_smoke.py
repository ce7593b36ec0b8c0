"""Every script in benchmarks/ runs at a tiny size (issue 24): a benchmark nothing runs rots unseen
(catalog_run.py imported a module the layout change had removed; inmemory_loop.py died in round
0). Each test runs the script as `make test` would leave it to a user, a subprocess of this
interpreter from the project root, with the script's own size flags turned down, and checks it
exited 0 and printed the figures it promises (not only that it ran). The measurements themselves
are the scripts' defaults; the Spark scripts' smoke tests are in tests/python/spark/.

Wall seconds on the shared 2 cores are several times the CPU seconds; most of these tests pay
for a dbt build, a featuriser fit or a tuning search, hence `slow`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

PROJECT_DIR = Path(__file__).resolve().parents[3]
BENCHMARKS = PROJECT_DIR / "benchmarks"
NUMBER = r"[\d,]+(?:\.\d+)?"


def run_script(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 840) -> str:
    """Run benchmarks/<script> with these arguments; fail with its output unless it exits 0."""
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=PROJECT_DIR,
                            env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout,
                            check=False)
    assert result.returncode == 0, (f"{script} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}"
                                    f"\n--- stderr\n{result.stderr[-4000:]}")
    return result.stdout


def built_warehouse_copy(template: Path, folder: Path) -> Path:
    """A copy of the session's built FBL warehouse (the template itself is never written)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "karl.duckdb"
    shutil.copyfile(template, path)
    return path


def test_annotation_throughput_prints_a_rate_per_concurrency() -> None:
    out = run_script("annotation_throughput.py", "--waves", "2", "--concurrency", "2", "--latency", "0.01")
    # one row: c, calls, seconds, calls/s, ideal c/L, ...
    assert re.search(rf"^\s+2\s+30\s+{NUMBER}\s+{NUMBER}\s+200\.0\s", out, re.MULTILINE), out


@pytest.mark.slow
def test_candidate_generation_prints_the_growth_row() -> None:
    out = run_script("candidate_generation.py", "--repeat", "1", "--skip-completejourney", "--sizes", "10k")
    assert re.search(rf"^\s+10k\s+1\s+27\s+9,936\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$", out, re.MULTILINE), out


@pytest.mark.slow
def test_catalog_run_prints_phases_rounds_and_agreement(fbl_dir: Path, tmp_path: Path) -> None:
    out = run_script("catalog_run.py", "--rounds", "1", "--budget", "10", "--tuning-trials", "1",
                     "--transactions", "5000", "--fbl-dir", str(fbl_dir), "--workdir", str(tmp_path))
    assert re.search(rf"^ingest completejourney\s+{NUMBER}\s+{NUMBER}", out, re.MULTILINE), out
    assert re.search(rf"^total\s+{NUMBER}\s+{NUMBER}", out, re.MULTILINE), out
    assert re.search(rf"^\s+0 \|\s+{NUMBER} \|\s+\d+ \|", out, re.MULTILINE), out  # round 0's row
    assert re.search(r"agreement of the FBL-trained classifier \(round 0\) with the basket labels: "
                     rf"{NUMBER}% of {NUMBER} candidate pairs", out), out
    assert re.search(rf"^peak RSS {NUMBER} MB overall", out, re.MULTILINE), out


@pytest.mark.slow
def test_catalog_rq2_prints_the_learning_curve_table(tmp_path: Path) -> None:
    """RQ2 on a slice of The Complete Journey; then experiment_table.py reads the same warehouse."""
    out = run_script("catalog_rq2.py", "--workdir", str(tmp_path), "--transactions", "20000", "--rounds", "1",
                     "--seeds", "0", "--strategies", "margin,random", "--budget", "10", "--members", "2",
                     "--tuning-trials", "1", "--experiment-id", "smoke")
    for dataset in ("cj_eval", "cj_seed"):
        assert re.search(rf"^{dataset}: {NUMBER} pairs of {NUMBER} anchors, classes \{{'other': ", out, re.MULTILINE), out
    assert re.search(r"^experiment smoke: 2 complete runs, 2 strategies, 1 rounds.*ceiling pool [\d,]+ labels$", out,
                     re.MULTILINE), out
    for strategy in ("margin", "random"):
        assert re.search(rf"^\| {strategy}\s+\|\s+1 \|\s+{NUMBER} \|", out, re.MULTILINE), out
    con = duckdb.connect(str(tmp_path / "karl.duckdb"), read_only=True)
    try:
        n_eval = con.execute("select count(*) from marts.fct_eval_sets where eval_set = 'test'").fetchone()[0]
        # the anchors of the held-out pairs are never the sampler's queries
        asked = con.execute("""
            select count(*) from marts.fct_candidate_pairs
            where item_a_id in (select item_a_id from marts.fct_eval_sets where eval_set = 'test')
        """).fetchone()[0]
        n_candidates = con.execute("select count(*) from marts.fct_candidate_pairs").fetchone()[0]
    finally:
        con.close()
    assert n_eval > 0 and n_candidates > 0 and asked == 0, (n_eval, n_candidates, asked)
    plot = tmp_path / "curves.png"
    table = run_script("experiment_table.py", "--experiment-id", "smoke", "--db", str(tmp_path / "karl.duckdb"),
                       "--plot", str(plot))
    assert re.search(r"^\| margin − random \| [+-]\d\.\d{3} \(\d/1 wins\)", table, re.MULTILINE), table
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_ingest_build_prints_ingest_and_build_seconds(fbl_dir: Path) -> None:
    out = run_script("ingest_build.py", "--dir", str(fbl_dir))
    assert re.search(rf"^run 1: ingest FBL {NUMBER} s .* \| dbt build {NUMBER} s .* \| total {NUMBER} s "
                     r"vs target 15 s: (OK|OVER TARGET)", out, re.MULTILINE), out


@pytest.mark.slow
def test_inmemory_loop_prints_a_row_per_round() -> None:
    out = run_script("inmemory_loop.py", "--rounds", "1", "--budget", "10", "--members", "2", "--no-id",
                     "--tuning-trials", "1")
    assert re.search(r"^features: [\d.]+s$", out, re.MULTILINE), out
    for round_index in (0, 1):
        assert re.search(rf"^\s+{round_index}\s+\d+\s+nan\s+{NUMBER}\s+{NUMBER}", out, re.MULTILINE), out


@pytest.mark.slow
def test_round_overhead_prints_the_ratio() -> None:
    out = run_script("round_overhead.py", "--rounds", "1", "--members", "2", "--budget", "10", "--workers", "1",
                     "--tuning-trials", "1")
    assert re.search(rf"^\s+0\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+train {NUMBER}", out, re.MULTILINE), out
    assert re.search(rf"^mean round: karl {NUMBER} s, in-memory {NUMBER} s, ratio {NUMBER}", out, re.MULTILINE), out


@pytest.mark.slow
def test_scoring_throughput_prints_kernel_and_end_to_end_rates() -> None:
    out = run_script("scoring_throughput.py", "--sizes", "2000", "--dim", "16", "--kernel-dims", "16")
    assert re.search(rf"^\s+d=16\s+float32, 2 thread\(s\):\s+{NUMBER} pairs/s wall", out, re.MULTILINE), out
    assert re.search(rf"^\s+2,000 \|\s+{NUMBER}\s+{NUMBER}\s+{NUMBER} \|", out, re.MULTILINE), out


@pytest.mark.slow
def test_sparse_scoring_throughput_prints_kernel_and_end_to_end_rates() -> None:
    out = run_script("sparse_scoring_throughput.py", "--sizes", "2000", "--overlap", "2")
    assert re.search(rf"sparse \[\|a-b\|, a\*b, cos\]\s+2 thread\(s\):\s+{NUMBER} pairs/s wall", out), out
    assert re.search(rf"^\s+2,000 \|\s+{NUMBER}\s+{NUMBER}\s+{NUMBER} \|", out, re.MULTILINE), out


@pytest.mark.slow
def test_feature_research_measure_prints_id_and_ood_figures(fbl_warehouse_template: Path, tmp_path: Path) -> None:
    db = built_warehouse_copy(fbl_warehouse_template, tmp_path)
    # one class-weighted LR per fold (single), not a bag of 10: the cheapest SPEC of karl's features
    out = run_script("feature_research/measure.py", "char13@1@single", env={"KARL_DUCKDB_PATH": str(db)})
    assert re.search(r"^ID \d+ pairs, OOD test \d+, pool \d+$", out, re.MULTILINE), out
    assert re.search(r"^char13@1@single\s+ID [\d.]+  ID grouped [\d.]+ \| OOD [\d.]+ .*OOD \+ pool [\d.]+", out,
                     re.MULTILINE), out


@pytest.mark.slow
def test_feature_research_member_fit_prints_fit_seconds(fbl_warehouse_template: Path, tmp_path: Path) -> None:
    db = built_warehouse_copy(fbl_warehouse_template, tmp_path)
    out = run_script("feature_research/member_fit.py", env={"KARL_DUCKDB_PATH": str(db)})
    assert re.search(r"^member: \d+ rows x \d+ columns", out, re.MULTILINE), out
    for line in ("sklearn lbfgs", "karl fit_sparse_logreg, from zeros", "from the round-0 member (warm start)"):
        assert re.search(rf"^\s+{re.escape(line)}.*\s[\d.]+ s$", out, re.MULTILINE), (line, out)


def test_predict_throughput_smoke() -> None:
    """benchmarks/predict_throughput.py --smoke: `karl predict` over 2,000 synthetic candidates."""
    result = subprocess.run([sys.executable, str(BENCHMARKS / "predict_throughput.py"), "--smoke"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2,000 |" in result.stdout and "again:" in result.stdout
