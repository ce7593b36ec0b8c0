"""Few-shot examples from the human labels: deterministic per pair, recorded with each call, part
of the cache key, and never an evaluation pair (checked over a whole `karl run`)."""

from __future__ import annotations

import json
import shutil

import pytest
from llm_fixtures import calls, fast_annotator, synthetic_pair
from typer.testing import CliRunner

from python_jobs import warehouse
from python_jobs.annotation import prompt
from python_jobs.annotation.base import CallContext
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.annotation.evaluation_pairs import evaluation_pair_keys
from python_jobs.annotation.few_shot import (
    BalancedSelector,
    EvaluationPairInPool,
    ExamplePool,
    FewShotExample,
    FixedSelector,
    NearestSelector,
)
from python_jobs.annotation.openai.client import OpenAIAnnotator
from python_jobs.cli import app
from python_jobs.config import LLMSettings
from python_jobs.testing.fake_llm_server import FakeLLMServer

TOPICS = ["stapler", "staples", "printer", "toner", "pen", "ink", "desk", "chair", "lamp", "bulb"]


def toy_pool(excluded: tuple[str, ...] = ()) -> ExamplePool:
    examples = [FewShotExample(synthetic_pair(f"ex{i}", f"Made-up {TOPICS[i % 10]} {i}", f"Made-up {TOPICS[(i + 1) % 10]}"),
                               1 + i % 9) for i in range(27)]
    return ExamplePool(examples, excluded)


def test_the_pool_refuses_an_evaluation_pair() -> None:
    leaked = synthetic_pair("ex3").pair_key
    with pytest.raises(EvaluationPairInPool):
        toy_pool(excluded=(leaked,))


@pytest.mark.parametrize("selector_class", [FixedSelector, BalancedSelector, NearestSelector])
def test_a_selection_is_deterministic_and_never_the_pair_itself(selector_class) -> None:
    pool = toy_pool()
    pair = synthetic_pair("ex5", "Made-up printer 5", "Made-up toner")  # the same key as pool pair ex5
    first = selector_class(pool, 3).select(pair)
    again = selector_class(toy_pool(), 3).select(pair)
    assert first == again and len(first) == 3
    assert pair.pair_key not in {e.pair.pair_key for e in first}


def test_balanced_gives_one_example_per_class_and_nearest_the_most_similar() -> None:
    pool = toy_pool()
    balanced = BalancedSelector(pool, 9).select(synthetic_pair("q"))
    assert sorted(e.fbl_label for e in balanced) == list(range(1, 10))
    nearest = NearestSelector(pool, 2).select(synthetic_pair("q", "Made-up toner 13", "Made-up pen"))
    assert nearest[0].pair.item_a_title == "Made-up toner 13"


def test_examples_are_in_the_prompt_recorded_with_the_call_and_in_the_cache_key(tmp_path) -> None:
    pool = toy_pool()
    pair = synthetic_pair("asked", "Made-up stapler 0", "Made-up staples")
    plain = fast_annotator("http://127.0.0.1:9/v1")
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer() as server:
        settings = {**fast_annotator(server.base_url).config.__dict__, "few_shot": "nearest", "few_shot_k": 2}
        annotator = OpenAIAnnotator(LLMSettings(**settings), "sk-test", selector=NearestSelector(pool, 2))
        annotator.annotate([pair], CallContext("fs", 1, 3), DuckDBCallSink(con))
        bodies = [r.body for r in server.requests if r.call_id]  # the calls, not the preflight
    expected = NearestSelector(pool, 2).select(pair)
    assert all(len(body["messages"]) == 2 + 2 * 2 for body in bodies)
    assert all(body["messages"] == prompt.build_messages(pair, expected) for body in bodies)
    for row in calls(con, "fs").values():
        assert json.loads(row["request_params"])["few_shot"] == {
            "selector": "nearest", "pair_keys": [e.pair.pair_key for e in expected]}
    assert annotator.cache_key(pair, 1) != plain.cache_key(pair, 1)


@pytest.fixture(scope="module")
def few_shot_run(tmp_path_factory, fbl_warehouse_template):
    tmp = tmp_path_factory.mktemp("few_shot_run")
    db_path = tmp / "karl.duckdb"
    shutil.copyfile(fbl_warehouse_template, db_path)
    # A module-scoped fixture cannot use the monkeypatch fixture: undo by hand, whatever happens,
    # so the few-shot setting never leaks into later tests.
    with pytest.MonkeyPatch.context() as patch, FakeLLMServer(noise=0.2) as server:
        patch.setenv("KARL_DUCKDB_PATH", str(db_path))
        patch.setenv("KARL_DBT_TARGET_PATH", str(tmp / "target"))
        patch.setenv("OPENAI_BASE_URL", server.base_url)
        patch.setenv("KARL_LLM_MODEL", "fake-llm")
        patch.setenv("KARL_LLM_FEW_SHOT", "nearest")
        args = ["run", "--workers", "1", "--annotator", "openai", "--rounds", "2", "--budget", "6", "--strategy", "margin",
                "--members", "3", "--tuning-trials", "2", "--run-id", "fs-run", "--db", str(db_path)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
        bodies = [r.body for r in server.requests if r.call_id]  # the calls, not the preflight
    con = warehouse.connect(db_path)
    yield con, bodies
    con.close()


@pytest.mark.slow
def test_no_evaluation_pair_is_ever_in_a_prompt_over_a_whole_run(few_shot_run) -> None:
    con, bodies = few_shot_run
    evaluation = evaluation_pair_keys(con)
    test_half = {r[0] for r in con.execute("select pair_key from marts.fct_eval_sets where eval_set = 'test'").fetchall()}
    assert test_half <= evaluation
    rows = con.execute("select pair_key, request_params from raw.llm_calls where run_id = 'fs-run'").fetchall()
    assert len(rows) >= 2 * 6 * 3
    shown = [key for _, params in rows for key in json.loads(params)["few_shot"]["pair_keys"]]
    assert len(shown) == 3 * len(rows) and not set(shown) & evaluation
    # What the server saw: no example turn holds an evaluation pair's data block.
    from python_jobs.annotation.base import PairToAnnotate
    from python_jobs.annotation.plan import _titles

    titles = _titles(con)
    evaluation_blocks = set()
    for key, a, b in con.execute("select pair_key, item_a_id, item_b_id from marts.fct_human_labels").fetchall():
        if key in evaluation:
            (title_a, cat_a), (title_b, cat_b) = titles.get(a, ("", None)), titles.get(b, ("", None))
            evaluation_blocks.add(prompt.USER_TEMPLATE.format(data=prompt.pair_data(PairToAnnotate(key, a, title_a, b, title_b, cat_a, cat_b))))
    example_turns = [m["content"] for body in bodies for m in body["messages"][1:-1] if m["role"] == "user"]
    assert len(example_turns) == 3 * len(bodies) and not set(example_turns) & evaluation_blocks


def test_examples_come_from_the_runs_train_datasets_outside_their_judge_reserve(fbl_warehouse) -> None:
    """Examples come from the train role only, never from its judge reserve; a train dataset of
    relation labels only (FBL2024: no 9-class code) gives none, since the prompt shows codes."""
    from python_jobs.annotation.evaluation_pairs import evaluation_pair_keys, is_judge_reserved
    from python_jobs.annotation.few_shot_pool import load_pool

    con = warehouse.connect(fbl_warehouse)
    try:
        dataset_of = dict(con.execute("select pair_key, dataset from marts.fct_human_labels").fetchall())
        default_pool, relation_only_pool = load_pool(con), load_pool(con, example_datasets=("FBL2024",))
        evaluation_when_2024_trains = evaluation_pair_keys(con, ("FBL2024",))
    finally:
        con.close()
    keys = [example.pair.pair_key for example in default_pool.examples]
    assert keys and {dataset_of[key] for key in keys} == {"FBL2023"}
    assert not any(is_judge_reserved(key) for key in keys)
    assert len(relation_only_pool.examples) == 0
    assert {key for key, named in dataset_of.items() if named == "FBL2023"} <= evaluation_when_2024_trains
    fbl2024 = {key for key, named in dataset_of.items() if named == "FBL2024"}
    assert fbl2024 & evaluation_when_2024_trains == {key for key in fbl2024 if is_judge_reserved(key)}
