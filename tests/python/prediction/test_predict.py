"""`karl predict` end to end on the real FBL data, real DuckDB and real dbt: after a short replay
run the run's final model scores every candidate pair, fct_pair_relations holds one row per
candidate pair with labels winning over predictions, rpt_item_relations answers for an item,
predicting twice writes nothing new, a second run yields a new model version, and bad input is
refused in one line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from loop_fixtures import run_quietly

from python_jobs import warehouse
from python_jobs.config import RunConfig
from python_jobs.prediction.job import predict_relations
from python_jobs.prediction.predict import PredictionSummary

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[3] / "README.md"
SMALL = dict(strategy="margin", annotator="replay", tuning_trials=3, budget=20, members=3, workers=1)


def _predict(db: Path, run_id: str | None = None) -> PredictionSummary:
    con = warehouse.connect(db)
    try:
        return predict_relations(con, run_id=run_id, db_path=db)
    finally:
        con.close()


def _karl(db: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, KARL_DUCKDB_PATH=str(db))
    return subprocess.run([sys.executable, "-m", "python_jobs.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def predicted(fbl_warehouse_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Run 1 (2 rounds), predict, predict again; run 2, predict. What each step reported."""
    folder = tmp_path_factory.mktemp("predict")
    db = folder / "karl.duckdb"
    shutil.copyfile(fbl_warehouse_template, db)
    patch = pytest.MonkeyPatch()
    # the runs' in-process dbt builds must write this file
    patch.setenv("KARL_DUCKDB_PATH", str(db))
    patch.setenv("KARL_DBT_TARGET_PATH", str(folder / "target"))
    try:
        yield _steps(db)
    finally:
        patch.undo()


def _steps(db: Path) -> dict:
    steps: dict = {"db": db, "no_run": _karl(db, "predict")}
    run_quietly(db, RunConfig(run_id="predict-1", rounds=2, seed=0, **SMALL))
    steps["first"] = _predict(db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        steps["rows_after_first"] = con.execute("select count(*) from raw.pair_predictions").fetchone()[0]
    finally:
        con.close()
    steps["again"] = _predict(db, "predict-1")
    con = duckdb.connect(str(db), read_only=True)
    try:
        steps["rows_after_again"] = con.execute("select count(*) from raw.pair_predictions").fetchone()[0]
    finally:
        con.close()
    run_quietly(db, RunConfig(run_id="predict-2", rounds=1, seed=1, **SMALL))
    steps["second"] = _predict(db)
    return steps


def _query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_every_candidate_pair_has_exactly_one_relation(predicted: dict) -> None:
    db = predicted["db"]
    (n_candidates,), = _query(db, "select count(*) from marts.fct_candidate_pairs")
    n_rows, n_keys, n_predicted = _query(db, """
        select count(*), count(distinct pair_key), count(*) filter (where model_version is not null)
        from marts.fct_pair_relations
    """)[0]
    assert n_candidates > 1000
    assert n_rows == n_keys == n_predicted == n_candidates
    assert predicted["first"].n_written == predicted["first"].n_candidates == n_candidates
    # the relation is the latest model's everywhere, and its probabilities are a distribution
    (bad,), = _query(db, """
        select count(*) from marts.fct_pair_relations
        where model_version <> ? or abs(p_substitute + p_complement + p_other - 1) > 1e-4
            or uncertainty < 0 or uncertainty > 1 or relation_class is null
    """, [predicted["second"].model_version])
    assert bad == 0


def test_labels_win_over_predictions_and_say_which(predicted: dict) -> None:
    db = predicted["db"]
    rows = _query(db, """
        select r.relation_source, r.relation_class, r.predicted_class, h.relation_label
        from marts.fct_pair_relations as r
        left join (
            select pair_key, max(relation_label) as relation_label from marts.fct_human_labels
            where relation_label is not null group by pair_key
        ) as h on r.pair_key = h.pair_key
    """)
    labelled = [r for r in rows if r[3] is not None]
    unlabelled = [r for r in rows if r[3] is None]
    assert labelled and unlabelled
    assert all(source == "human" and cls == label for source, cls, _, label in labelled)
    assert any(predicted_class != label for _, _, predicted_class, label in labelled), "no case where a label overrides"
    assert all(source == "model" and cls == predicted_class for source, cls, predicted_class, _ in unlabelled)


def test_item_relations_answer_for_any_related_item(predicted: dict) -> None:
    db = predicted["db"]
    missing = _query(db, """
        with related as (
            select item_a_id as item_id, relation_class from marts.fct_pair_relations
            where relation_class in ('complement', 'substitute')
            union
            select item_b_id, relation_class from marts.fct_pair_relations
            where relation_class in ('complement', 'substitute')
        )
        select * from related
        where (item_id, relation_class) not in (select (item_id, relation_class) from marts.rpt_item_relations)
    """)
    assert missing == []
    item, = _query(db, "select item_id from marts.rpt_item_relations where relation_class = 'complement' "
                       "order by item_id limit 1")[0]
    ranks = [r[0] for r in _query(db, """
        select relation_rank from marts.rpt_item_relations
        where item_id = ? and relation_class = 'complement' order by relation_rank
    """, [item])]
    assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) <= 10
    # the README's "complements of item X" answers the same
    readme_sql = re.search(r"Complements of item X:\n\n```sql\n(.*?)```", README.read_text(), re.S).group(1)
    readme_sql = readme_sql.replace("'askul:1234567'", "?")
    set_variable, query = [part.strip() for part in readme_sql.split(";") if part.strip()]
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute(set_variable, [item])
        answer = con.execute(query).fetchall()
    finally:
        con.close()
    assert [row[0] for row in answer] == ranks


def test_predicting_twice_writes_nothing_new(predicted: dict) -> None:
    again = predicted["again"]
    assert again.model_version == predicted["first"].model_version
    assert again.n_written == 0
    assert predicted["rows_after_again"] == predicted["rows_after_first"]


def test_a_second_run_is_a_new_model_version_with_its_lineage(predicted: dict) -> None:
    db = predicted["db"]
    first, second = predicted["first"], predicted["second"]
    assert first.model_version.startswith("predict-1:r02:") and second.model_version.startswith("predict-2:r01:")
    assert second.n_written == second.n_candidates
    versions = dict(_query(db, "select model_version, n_predicted_pairs from marts.fct_model_versions"))
    assert versions == {first.model_version: first.n_written, second.model_version: second.n_written}
    # lineage: the first model trained on the human labels and run 1's labels of rounds 0-1
    lineage = dict(_query(db, """
        select label_source, count(*) from marts.fct_model_training_labels
        where model_version = ? group by label_source
    """, [first.model_version]))
    (n_llm,), = _query(db, "select count(*) from marts.fct_training_labels "
                           "where label_source = 'llm' and run_id = 'predict-1' and round_index < 2")
    (n_human,), = _query(db, "select count(*) from marts.fct_training_labels where label_source = 'human'")
    assert lineage == {"human": n_human, "llm": n_llm} and n_llm > 0


def test_bad_input_is_refused_in_one_line(predicted: dict) -> None:
    db = predicted["db"]
    cases = [(predicted["no_run"], "No completed run"),
             (_karl(db, "predict", "--run", "no-such-run"), "No run 'no-such-run'"),
             (_karl(db, "predict", "--catalog", "no-such-catalogue"), "No catalogue 'no-such-catalogue'")]
    for result, expected in cases:
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], result.stderr
