"""`karl run --annotator openai` end to end against the local OpenAI-compatible server.

Real FBL data (read at test time, ingested and built once per session by conftest), the real
CLI, the real openai client over HTTP on 127.0.0.1: one annotation round, then dbt's consensus
and training marts. Checks that every selected pair
got K recorded calls, that exactly the unanimous pairs became LLM training labels, and that the
API key never reached the warehouse.
"""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from python_jobs import warehouse
from python_jobs.cli import app
from python_jobs.testing.fake_llm_server import FakeLLMServer

pytestmark = pytest.mark.slow  # every test here runs the loop

SECRET = "sk-karl-e2e-SENTINEL-93be1f"


@pytest.fixture(scope="module")
def openai_run(tmp_path_factory, fbl_warehouse_template):
    """The session's built FBL warehouse (ingest + dbt build, shared), copied; then `karl run`."""
    tmp = tmp_path_factory.mktemp("llm_e2e")
    db_path = tmp / "karl.duckdb"
    shutil.copyfile(fbl_warehouse_template, db_path)
    with pytest.MonkeyPatch.context() as patch, FakeLLMServer(noise=0.4) as server:
        patch.setenv("KARL_DUCKDB_PATH", str(db_path))
        patch.setenv("KARL_DBT_TARGET_PATH", str(tmp / "target"))
        patch.setenv("OPENAI_BASE_URL", server.base_url)
        patch.setenv("OPENAI_API_KEY", SECRET)
        patch.setenv("KARL_LLM_MODEL", "fake-llm")
        args = ["run", "--workers", "1", "--annotator", "openai", "--rounds", "1", "--budget", "12", "--strategy", "margin",
                "--members", "3", "--tuning-trials", "2", "--run-id", "llm-e2e", "--db", str(db_path)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, f"karl {' '.join(args)}:\n{result.output}\n{result.exception!r}"
        requests = list(server.requests)
    con = warehouse.connect(db_path)
    yield con, requests, db_path
    con.close()


def test_every_selected_pair_gets_k_recorded_calls(openai_run) -> None:
    con, requests, _ = openai_run
    run_id, selected = con.execute(
        "select run_id, count(*) from raw.selections where round_index = 0 group by run_id").fetchone()
    assert selected > 0
    rows = con.execute(
        "select pair_key, attempt_index, annotator_kind, is_valid, request_params from raw.llm_calls where run_id = ?",
        [run_id]).fetchall()
    assert len(rows) == 3 * selected == len({(r[0], r[1]) for r in rows})
    assert {r[2] for r in rows} == {"openai"} and all(r[3] for r in rows)
    assert len(requests) >= len(rows)  # the first json_schema attempt included, nothing lost
    assert {json.loads(r[4])["model"] for r in rows} == {"fake-llm"}


def test_only_unanimous_pairs_become_llm_training_labels(openai_run) -> None:
    """Unanimity is on the 3-class relation (the classifier's label); the 9-class label is kept
    only when the 9-class votes agree too."""
    con, _, _ = openai_run
    votes = con.execute("""
        select pair_key, count(distinct relation_label) = 1 and count(*) = 3 and bool_and(is_valid) as unanimous
        from raw.llm_calls group by pair_key
    """).fetchall()
    unanimous = {key for key, ok in votes if ok}
    accepted = {r[0] for r in con.execute(
        "select pair_key from marts.fct_consensus_labels where is_accepted").fetchall()}
    llm_labels = {r[0] for r in con.execute(
        "select pair_key from marts.fct_training_labels where label_source = 'llm'").fetchall()}
    assert accepted == unanimous == llm_labels
    assert 0 < len(accepted) < len(votes)  # the noisy server made some pairs disagree
    fbl = con.execute("""
        select c.pair_key, c.fbl_label, count(distinct l.fbl_label) as n_codes
        from marts.fct_consensus_labels as c inner join raw.llm_calls as l using (run_id, round_index, pair_key)
        where c.is_accepted group by c.pair_key, c.fbl_label
    """).fetchall()
    assert all((code is not None) == (n_codes == 1) for _, code, n_codes in fbl)


def test_api_key_is_not_in_the_warehouse(openai_run) -> None:
    con, requests, db_path = openai_run
    assert {r.authorization for r in requests} == {f"Bearer {SECRET}"}
    con.execute("checkpoint")
    assert SECRET.encode() not in db_path.read_bytes()
