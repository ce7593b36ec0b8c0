"""`karl experiment --splits K` on the real FBL data: each cell runs on K pool/test splits, every
run records its split and its ceiling, the marts give split-level rows and the learning-curve
figures, the report draws them against the ceiling; a second call resumes without fitting or
running anything again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from python_jobs import warehouse
from python_jobs.cli import app
from python_jobs.loop import ceiling
from python_jobs.reporting.report import write_report

pytestmark = pytest.mark.slow  # runs the loop

PROJECT_DIR = Path(__file__).resolve().parents[3]

ARGS = ["experiment", "--splits", "2", "--rounds", "2", "--seeds", "0", "--strategies", "margin,random",
        "--members", "3", "--tuning-trials", "2", "--budget", "20", "--workers", "1", "--experiment-id", "splits", "--rechoose-from", "10"]


def test_two_splits_give_split_rows_a_ceiling_per_split_and_resume(fbl_warehouse: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KARL_SPLIT_SEED", "7")
    result = CliRunner().invoke(app, ARGS)
    assert result.exit_code == 0, result.output
    assert "learning curves" in result.output
    with warehouse.connection(fbl_warehouse) as con:
        runs = con.execute("""
            select run_id, strategy, split_seed, last_round_index, ood_macro_f1_round0, ceiling_ood_macro_f1,
                   n_ceiling_pool_labels, normalised_ood_area
            from marts.fct_experiment_runs where experiment_id = 'splits' order by split_seed, strategy
        """).fetchall()
        assert [(r[0], r[1], r[2], r[3]) for r in runs] == [
            ("splits-margin-s0-k7", "margin", 7, 2), ("splits-random-s0-k7", "random", 7, 2),
            ("splits-margin-s0-k8", "margin", 8, 2), ("splits-random-s0-k8", "random", 8, 2)]
        for run in runs:
            assert 0 < run[4] < 1 and 0 < run[5] < 1 and run[6] > 500
        # The strategies of one split and seed share their floor and ceiling; the two splits do not.
        assert runs[0][4:7] == runs[1][4:7] and runs[2][4:7] == runs[3][4:7]
        assert runs[0][5] != runs[2][5] and runs[0][6] != runs[2][6]

        pool_halves = dict(con.execute("""
            select cast(json_extract(value_json, '$.split_seed') as integer), count(*)
            from raw.run_artifacts where name = 'eval_split' and run_id like 'splits-%' group by 1
        """).fetchall())
        assert pool_halves == {7: 2, 8: 2}

        splits = con.execute("""
            select split_seed, strategy, n_runs, floor_ood_macro_f1, ceiling_ood_macro_f1
            from marts.rpt_experiment_splits where experiment_id = 'splits' order by split_seed, strategy
        """).fetchall()
        assert [(s[0], s[1], s[2]) for s in splits] == [(7, "margin", 1), (7, "random", 1), (8, "margin", 1), (8, "random", 1)]
        assert [s[4] for s in splits] == [r[5] for r in runs]

        # The item-disjoint ID CV beside the shuffled one, at round 0 and the last round.
        id_figures = con.execute("""
            select id_macro_f1_round0, id_item_disjoint_macro_f1_round0, id_item_disjoint_macro_f1_final
            from marts.fct_experiment_runs where experiment_id = 'splits'
        """).fetchall()
        for shuffled, disjoint_round0, disjoint_final in id_figures:
            assert 0.3 < disjoint_round0 < shuffled and 0.3 < disjoint_final < 1
        assert con.execute("""
            select count(*) from marts.fct_round_metrics
            where run_id like 'splits-%' and round_index = 1 and id_item_disjoint_macro_f1 is null
        """).fetchone()[0] == 4

        summary = con.execute("""
            select strategy, n_runs, n_splits, sd_ood_macro_f1_round0, mean_ceiling_ood_macro_f1
            from marts.rpt_experiment_summary where experiment_id = 'splits' order by strategy
        """).fetchall()
        assert [(s[0], s[1], s[2]) for s in summary] == [("margin", 2, 2), ("random", 2, 2)]
        assert summary[0][3] > 0  # the round-0 OOD moves between splits
        assert summary[0][4] == pytest.approx((runs[0][5] + runs[2][5]) / 2)

        # The re-choice by acquired-label CV: from the round with 10 acquired labels, the run's
        # own model and the default candidate, one pick per round, the run model's OOD equal to
        # the round's (the same bag on the same labels).
        choices = con.execute("""
            select choices.run_id, choices.round_index, choices.candidate_spec, choices.is_run_model,
                   choices.is_chosen, choices.n_acquired_labels, choices.acquired_cv_macro_f1, choices.ood_macro_f1,
                   choices.ood_gain_over_run_model, choices.split_seed, metrics.ood_macro_f1 as round_ood
            from marts.fct_round_model_choices as choices
            inner join marts.fct_round_metrics as metrics
                on choices.run_id = metrics.run_id and choices.round_index = metrics.round_index
            where choices.experiment_id = 'splits' order by 1, 2, choices.candidate_index
        """).fetchall()
        # Counted from the consensus: fct_training_labels holds the last-built split's view.
        acquired = dict(((run_id, r), n) for run_id, r, n in con.execute("""
            select run_id, round_index, count(*) from marts.fct_consensus_labels
            where run_id like 'splits-%' and is_accepted group by all""").fetchall())
        rounds = {(c[0], c[1]) for c in choices}
        assert {r for _, r in rounds} <= {1, 2} and {run_id for run_id, _ in rounds} == {r[0] for r in runs}
        for run_id, round_index in rounds:
            before = sum(n for (rid, r), n in acquired.items() if rid == run_id and r < round_index)
            assert before >= 10
            rows = [c for c in choices if (c[0], c[1]) == (run_id, round_index)]
            assert [c[2] for c in rows] == ["char13@tuned@logreg", "char13+overlap@1@logreg"]
            assert [c[3] for c in rows] == [True, False] and sum(c[4] for c in rows) == 1
            assert all(c[5] == before and 0 < c[6] <= 1 and 0 < c[7] < 1 for c in rows)
            assert rows[0][7] == pytest.approx(rows[0][10]) and rows[0][8] == 0
            assert rows[1][8] == pytest.approx(rows[1][7] - rows[0][7])
        assert {c[9] for c in choices} == {7, 8}

        stored = json.loads(con.execute("select value_json from raw.run_artifacts "
                                        "where run_id = 'splits-margin-s0-k8' and name = 'ceiling'").fetchone()[0])
        assert stored["split_seed"] == 8 and stored["ood_macro_f1"] == runs[2][5]
        steps_before = con.execute("select count(*) from raw.run_steps").fetchone()[0]

    fits: list[str] = []
    real_fit = ceiling.fit_ceiling
    monkeypatch.setattr(ceiling, "fit_ceiling", lambda run: fits.append(run.config.run_id) or real_fit(run))
    again = CliRunner().invoke(app, ARGS)
    assert again.exit_code == 0, again.output
    assert fits == []
    with warehouse.connection(fbl_warehouse) as con:
        assert con.execute("select count(*) from raw.run_steps").fetchone()[0] == steps_before
        page = write_report(con, tmp_path / "report").read_text()
    assert "Learning curves against the ceiling" in page and "on 2 pool/test split(s)" in page
    assert "Model re-choice by the acquired labels" in page and "char13+overlap@1@logreg ×" in page

    # benchmarks/feature_research/protocols.py on the same experiment: its smoke run (tiny SPECs)
    research = subprocess.run(
        [sys.executable, "benchmarks/feature_research/protocols.py", "--experiment", "splits", "--rounds", "0,2",
         "char13@1@single", "char13@10@single"],
        cwd=PROJECT_DIR, env={**os.environ, "KARL_DUCKDB_PATH": str(fbl_warehouse)}, capture_output=True, text=True,
        timeout=900, check=False)
    assert research.returncode == 0, research.stdout[-3000:] + research.stderr[-3000:]
    assert "2 splits (7, 8), margin seed 0" in research.stdout
    picks = [line for line in research.stdout.splitlines() if line.strip().startswith("2 | ") and "(fixed)" not in line]
    assert [line.split("|")[1].strip() for line in picks] == ["shuffled", "item-disjoint", "acquired"]
