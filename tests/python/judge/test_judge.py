"""`karl judge` on the real FBL labels against the local server: the sample never touches the
OOD test half, an oracle model scores perfect agreement, a model that reads pairs backwards shows
up in the direction figures, and `--require-judge` refuses an unmeasured setting."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest
from llm_fixtures import fast_annotator
from typer.testing import CliRunner

from python_jobs import warehouse
from python_jobs import judge
from python_jobs.annotation import prompt
from python_jobs.annotation.evaluation_pairs import is_judge_reserved
from python_jobs.cli import app
from python_jobs.testing.fake_llm_server import FakeLLMServer

SETTINGS = judge.JudgeSettings(per_class=3, k_calls=3, seed=0)
CODE_OF_RELATION = {"substitute": 1, "complement": 7, "other": 8}


def _human_answers(con) -> dict[str, int]:
    """The human label of each sampled pair, keyed by its prompt data block."""
    answers = {}
    for sampled in judge.sample_pairs(con, SETTINGS):
        row = con.execute("select relation_label, fbl_label from marts.fct_human_labels where pair_key = ? and dataset = ?",
                          [sampled.pair.pair_key, sampled.dataset]).fetchone()
        answers[prompt.pair_data(sampled.pair)] = row[1] if row[1] is not None else CODE_OF_RELATION[row[0]]
    return answers


def _server_answering(answers: dict[str, int], reverse: bool = False) -> FakeLLMServer:
    reversed_code = {c.code: c.reversed_code for c in prompt.load_classes()}

    def answer(body: dict) -> int:
        data = body["messages"][-1]["content"].split(prompt.DATA_OPEN + "\n")[1].split("\n" + prompt.DATA_CLOSE)[0]
        code = answers[data]
        return reversed_code[code] if reverse else code

    return FakeLLMServer(answer=answer)


@pytest.fixture(scope="module")
def judged(tmp_path_factory, fbl_warehouse_template):
    tmp = tmp_path_factory.mktemp("judge")
    db_path = tmp / "karl.duckdb"
    shutil.copyfile(fbl_warehouse_template, db_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KARL_DUCKDB_PATH", str(db_path))
        patch.setenv("KARL_DBT_TARGET_PATH", str(tmp / "target"))
        con = warehouse.connect(db_path)
        try:
            answers = _human_answers(con)
            ids = {}
            for name, reverse in (("oracle", False), ("backwards", True)):
                with _server_answering(answers, reverse) as server:
                    annotator = fast_annotator(server.base_url, model=f"fake-{name}")
                    ids[name] = judge.run_judge(con, annotator, SETTINGS, db_path=db_path)
            yield con, ids, db_path
        finally:
            con.close()


def test_the_sample_is_stratified_deterministic_and_never_the_test_half(judged) -> None:
    con, _, _ = judged
    sample = judge.sample_pairs(con, SETTINGS)
    assert sample == judge.sample_pairs(con, SETTINGS)
    test_half = {r[0] for r in con.execute("select pair_key from marts.fct_eval_sets where eval_set = 'test'").fetchall()}
    assert not {s.pair.pair_key for s in sample} & test_half
    strata = Counter(s.stratum for s in sample)
    assert len(strata) == 12 and max(strata.values()) == SETTINGS.per_class  # 9 codes + 3 relations
    assert all(is_judge_reserved(s.pair.pair_key) for s in sample if s.dataset == "FBL2023")


def test_an_oracle_scores_perfect_agreement(judged) -> None:
    con, ids, _ = judged
    rows = {(r["level"], r["class_label"]): r for r in judge.agreement(con, ids["oracle"])}
    for level in ("relation3", "fbl9"):
        overall = rows[(level, "all")]
        assert overall["accuracy"] == overall["macro_f1"] == overall["unanimity_rate"] == 1.0
        assert overall["cohens_kappa"] == pytest.approx(1.0)
    assert rows[("fbl9", "all")]["same_direction_rate"] == 1.0 and rows[("fbl9", "all")]["n_directional"] == 12
    humans, llms, cells = judge.confusion(con, ids["oracle"], "fbl9")
    assert len(humans) == 9 and len(llms) == 10  # the full 9x9 grid and a 'none' column
    assert all(n == 0 for (h, m), n in cells.items() if h != m)


def test_a_model_reading_pairs_backwards_is_right_on_relations_and_reversed_on_direction(judged) -> None:
    con, ids, _ = judged
    rows = {(r["level"], r["class_label"]): r for r in judge.agreement(con, ids["backwards"])}
    assert rows[("relation3", "all")]["accuracy"] == 1.0  # a reversed code keeps its relation
    fbl = rows[("fbl9", "all")]
    assert fbl["reversed_direction_rate"] == 1.0 and fbl["same_direction_rate"] == 0.0
    assert fbl["accuracy"] == pytest.approx(15 / 27)  # the 3 x 4 directional pairs are wrong
    judged_calls = con.execute("select count(*), count(label_prob) from raw.llm_calls where run_id = ?", [ids["backwards"]]).fetchone()
    assert judged_calls == (36 * 3, 36 * 3)


def test_a_killed_judge_resumes_without_resending(judged) -> None:
    con, ids, db_path = judged
    answers = _human_answers(con)
    with _server_answering(answers) as server:
        again = judge.run_judge(con, fast_annotator(server.base_url, model="fake-oracle"), SETTINGS, db_path=db_path, build=False)
        assert again == ids["oracle"] and server.request_counts() == {}


@pytest.mark.slow
def test_require_judge_accepts_a_measured_setting_and_refuses_others(judged) -> None:
    con, ids, db_path = judged
    found = judge.require_judge(con, fast_annotator("http://127.0.0.1:9/v1", model="fake-oracle"))
    assert found["judge_id"] == ids["oracle"] and found["accuracy"] == 1.0
    with pytest.raises(judge.JudgeMissing, match="karl judge"):
        judge.require_judge(con, fast_annotator("http://127.0.0.1:9/v1", model="fake-unmeasured"))
    with FakeLLMServer() as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_BASE_URL", server.base_url)
        patch.setenv("KARL_LLM_MODEL", "fake-unmeasured")
        result = CliRunner().invoke(app, ["run", "--workers", "1", "--annotator", "openai", "--rounds", "1", "--require-judge",
                                          "--db", str(db_path)])
    assert result.exit_code == 1 and "no `karl judge` result" in result.output
    assert json.loads(con.execute("select config_json from raw.judge_runs limit 1").fetchone()[0])["model"].startswith("fake-")


def test_the_report_has_a_judge_section_with_both_confusion_grids(judged, tmp_path) -> None:
    from python_jobs.reporting.report import write_report

    con, ids, _ = judged
    page = write_report(con, tmp_path).read_text()
    assert "LLM judge: agreement with the human labels" in page and ids["backwards"] in page
    assert "Confusion, 3 classes" in page and "Confusion, 9 FBL classes" in page
