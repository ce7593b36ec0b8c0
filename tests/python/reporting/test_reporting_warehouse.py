"""Reporting marts, lineage query, stopping signal, report and status on one synthetic warehouse.

The warehouse is built once per session from tests/python/reporting_synthetic.py (two simulated
runs, made-up items) with the real dbt project, so every assertion below checks SQL that ships.
"""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import duckdb
import pytest
from reporting_synthetic import VOTE_PATTERNS, write_synthetic_raw
from typer.testing import CliRunner

from python_jobs import warehouse
from python_jobs.cli import app
from python_jobs.loop import stopping
from python_jobs.reporting import report

PROJECT_DIR = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Built:
    db_path: Path
    target_path: Path


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("reporting_warehouse")
    db_path, target_path = root / "karl.duckdb", root / "target"
    con = warehouse.connect(db_path)
    write_synthetic_raw(con)
    con.close()
    # models, seeds and the snapshot; the data and unit tests run in `make test-dbt` (karl build)
    warehouse.run_dbt(["build", "--exclude", "resource_type:test", "resource_type:unit_test"],
                      db_path=db_path, target_path=target_path)
    return Built(db_path, target_path)


@pytest.fixture()
def con(built: Built):  # noqa: ANN201 - duckdb connection
    connection = warehouse.connect(built.db_path)
    yield connection
    connection.close()


def fleiss_kappa(counts: list[list[int]]) -> float:
    """Textbook Fleiss' kappa (subjects x categories count matrix, equal raters per subject)."""
    n_raters = sum(counts[0])
    n_subjects = len(counts)
    p_j = [sum(row[j] for row in counts) / (n_subjects * n_raters) for j in range(len(counts[0]))]
    p_i = [(sum(c * c for c in row) - n_raters) / (n_raters * (n_raters - 1)) for row in counts]
    p_bar, p_e = sum(p_i) / n_subjects, sum(p * p for p in p_j)
    return (p_bar - p_e) / (1 - p_e)


def test_fleiss_kappa_reference_matches_hand_computation() -> None:
    # the unit test's example (SSS, SSC, CCC, OCS): 22/82 by hand
    assert fleiss_kappa([[3, 0, 0], [2, 1, 0], [0, 3, 0], [1, 1, 1]]) == pytest.approx(22 / 82)


def test_agreement_mart_matches_votes_of_the_synthetic_rounds(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("""
        select run_id, round_index, n_pairs, n_calls, n_invalid_calls, n_unanimous_pairs, n_majority_pairs,
               n_majority_only_pairs, fleiss_kappa, n_kappa_pairs
        from marts.rpt_annotator_agreement order by run_id, round_index
    """).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("run_qbc", 0), ("run_qbc", 1), ("run_random", 0), ("run_random", 1)]
    # an independent kappa over the pairs with >= 2 valid votes (the invalid-vote pair has 2 of 3:
    # the generalised formula weights it by its own rater count, so compute it the same way here)
    counts = [[sum(v == c for v in votes) for c in ("substitute", "complement", "other")] for votes in VOTE_PATTERNS]
    p_i = [(sum(c * c for c in row) - sum(row)) / (sum(row) * (sum(row) - 1)) for row in counts]
    totals = [sum(row[j] for row in counts) / sum(map(sum, counts)) for j in range(3)]
    expected_kappa = (sum(p_i) / len(p_i) - sum(p * p for p in totals)) / (1 - sum(p * p for p in totals))
    for row in rows:
        assert row[2:8] == (5, 15, 1, 2, 4, 2)  # two unanimous, majority adds SSC and OO-invalid
        assert row[8] == pytest.approx(expected_kappa, abs=1e-6)
        assert row[9] == 5


def test_review_queue_holds_every_non_unanimous_pair_with_its_votes(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("""
        select review_reason, votes, suggested_relation_label, item_a_title is not null
        from marts.fct_review_queue where run_id = 'run_qbc' and round_index = 0 order by votes
    """).fetchall()
    assert rows == [
        ("disagreement", "other, complement, substitute", None, True),
        ("invalid_vote", "other, other, invalid", "other", True),
        ("disagreement", "substitute, substitute, complement", "substitute", True),
    ]


def test_every_training_label_traces_to_its_sources(con: duckdb.DuckDBPyConnection) -> None:
    dangling = con.execute("""
        select count(*) from marts.fct_training_labels as labels
        left join marts.fct_label_lineage as lineage on labels.training_label_id = lineage.training_label_id
        where lineage.source_kind is null
    """).fetchone()[0]
    assert dangling == 0
    per_llm_label = con.execute("""
        select training_label_id, count(*), count(distinct attempt_index), min(strategy), min(model),
               bool_and(uncertainty_score is not null)
        from marts.fct_label_lineage where label_source = 'llm' group by training_label_id
    """).fetchall()
    assert len(per_llm_label) == 8  # 2 runs x 2 annotated rounds x 2 unanimous pairs
    assert all(row[1] == 3 and row[2] == 3 and row[4] == "sim-model" and row[5] for row in per_llm_label)
    human = con.execute("""
        select count(distinct training_label_id), count(*) from marts.fct_label_lineage
        where label_source = 'human' and source_kind = 'human_judgement'
    """).fetchone()
    assert human == (6, 18)


def test_lineage_query_of_the_readme_returns_the_k_calls(con: duckdb.DuckDBPyConnection) -> None:
    key = con.execute(
        "select pair_key from marts.fct_training_labels where label_source = 'llm' order by pair_key limit 1"
    ).fetchone()[0]
    assert re.fullmatch(r"[\w:~]+", key)
    con.execute(f"set variable pair_key = '{key}'")
    frame = con.execute((PROJECT_DIR / "docs" / "lineage_query.sql").read_text()).df()
    assert list(frame["attempt_index"]) == [1, 2, 3]
    assert set(frame["source_kind"]) == {"llm_call"}
    assert frame["strategy"].iloc[0] in {"qbc", "random"}
    assert frame["prompt_version"].notna().all() and frame["uncertainty_score"].notna().all()


def test_labels_as_of_round_query_reads_the_snapshot(con: duckdb.DuckDBPyConnection) -> None:
    # the snapshot was taken after both runs finished; round 1 of run_qbc trains on the human
    # labels plus run_qbc's labels of round 0 (2 unanimous pairs), not on round 1's or run_random's
    con.execute("set variable run_id = 'run_qbc'")
    con.execute("set variable round_index = 1")
    sql = (PROJECT_DIR / "docs" / "labels_as_of_round.sql").read_text()
    # run_steps of the synthetic runs predate the snapshot: read the set as of 'now' instead
    sql_now = sql.replace("select completed_at\n    from raw.run_steps", "select now()::timestamp as completed_at\n    from raw.run_steps")
    rows = con.execute(f"select label_source, count(*) from ({sql_now.rstrip().rstrip(';')}) group by 1 order by 1").fetchall()
    assert rows == [("human", 6), ("llm", 2)]
    assert con.execute(sql.rstrip().rstrip(";")).fetchall() == []  # before the first snapshot: nothing yet


def test_stopping_signal_and_should_stop(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("""
        select run_id, last_round_index, metric_gain_in_window, last_pool_changed_share, should_stop
        from marts.rpt_run_stopping_signal order by run_id
    """).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("run_qbc", 2), ("run_random", 2)]
    assert rows[0][2] == pytest.approx(0.05) and rows[1][2] == pytest.approx(0.02)
    assert all(r[3] == pytest.approx(0.05) and r[4] is False for r in rows)
    assert stopping.should_stop(con, "run_qbc") == (False, "ood_macro_f1 still gaining (0.05 over the last 2 rounds)")
    assert stopping.should_stop(con, "no_such_run")[0] is False


def test_cost_and_class_balance(con: duckdb.DuckDBPyConnection) -> None:
    cost = con.execute("""
        select n_calls, n_invalid_calls, tokens_in, cost_usd, n_accepted_labels, cost_per_accepted_label_usd,
               cumulative_cost_usd, latency_p50_ms
        from marts.rpt_cost_by_round where run_id = 'run_qbc' order by round_index
    """).fetchall()
    assert [row[:5] for row in cost] == [(15, 1, 1500, pytest.approx(0.015), 2)] * 2
    assert cost[1][6] == pytest.approx(0.030) and cost[0][5] == pytest.approx(0.0075)
    balance = con.execute("""
        select relation_label, n_accepted_labels, accepted_share, n_accepted_labels_cumulative
        from marts.rpt_class_balance where run_id = 'run_qbc' and round_index = 1 order by relation_label
    """).fetchall()
    assert balance == [("complement", 1, 0.5, 2), ("other", 0, 0.0, 0), ("substitute", 1, 0.5, 2)]


def test_report_is_one_self_contained_page(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = report.write_report(con, tmp_path / "out")
    page = path.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 5
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    assert "run_qbc" in page and "run_random" in page and "Fleiss" in page
    for section in ("Macro-F1 per round", "Macro-F1 against accepted labels", "Confusion matrices",
                    "Example pairs", "Run configuration", "Quarantine"):
        assert f"<h2>{section}</h2>" in page
    assert "in every panel of this page" in page and "chance" in page  # the fixed axes are stated
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    only_qbc = report.write_report(con, tmp_path / "qbc", run_ids=["run_qbc"]).read_text()
    assert "run_random" not in only_qbc
    with pytest.raises(ValueError, match="unknown run"):
        report.write_report(con, tmp_path / "bad", run_ids=["nope"])


def test_an_empty_panel_is_left_out_with_a_sentence(con: duckdb.DuckDBPyConnection) -> None:
    data = report.load_report_data(con)
    data.metrics = data.metrics.assign(cost_usd=0.0, cumulative_cost_usd=0.0)
    data.confusion = data.confusion.iloc[0:0]
    page = report.render_html(data)
    assert "Not drawn: these runs spent nothing" in page
    assert "Not drawn: no confusion counts stored" in page


def test_report_and_status_commands(built: Built, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--out", str(tmp_path), "--run", "run_qbc", "--db", str(built.db_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / report.REPORT_FILE).exists()
    result = runner.invoke(app, ["status", "--db", str(built.db_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "run_qbc" in result.output and "Review queue: 12 pairs" in result.output


def test_quiet_and_json_output_modes(built: Built, tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(built.db_path)]
    quiet = runner.invoke(app, ["--quiet", "report", "--out", str(tmp_path), *db])
    assert quiet.exit_code == 0 and quiet.output.strip().startswith("report written to")
    as_json = runner.invoke(app, ["--log-format", "json", "status", *db])
    assert as_json.exit_code == 0, as_json.output
    status = json.loads(as_json.stdout)
    assert status["event"] == "status" and {"run_qbc", "run_random"} <= {r["run_id"] for r in status["runs"]}
    failed = runner.invoke(app, ["--log-format", "json", "report", "--run", "nope", "--out", str(tmp_path), *db])
    assert failed.exit_code == 1
    error = json.loads(failed.stderr.strip().splitlines()[-1])
    assert error["level"] == "error" and "unknown run" in error["message"]


def test_docs_generate_shows_the_loop_through_exposures(built: Built) -> None:
    warehouse.run_dbt(["docs", "generate"], db_path=built.db_path, target_path=built.target_path)
    manifest = json.loads((built.target_path / "manifest.json").read_text())
    catalog = json.loads((built.target_path / "catalog.json").read_text())
    trainer = manifest["exposures"]["exposure.karl.karl_trainer"]
    assert "model.karl.fct_training_labels" in trainer["depends_on"]["nodes"]
    assert "model.karl.rpt_run_stopping_signal" in trainer["depends_on"]["nodes"]
    report_nodes = manifest["exposures"]["exposure.karl.karl_report"]["depends_on"]["nodes"]
    assert "model.karl.rpt_round_metrics" in report_nodes
    # the loop: what the trainer writes (raw.llm_calls) feeds the labels it trains on
    parents = manifest["parent_map"]
    upstream, frontier = set(), ["model.karl.fct_training_labels"]
    while frontier:
        node = frontier.pop()
        for parent in parents.get(node, []):
            if parent not in upstream:
                upstream.add(parent)
                frontier.append(parent)
    assert "source.karl.karl.llm_calls" in upstream
    assert "model.karl.fct_label_lineage" in catalog["nodes"]


# --- review queue: export, review, ingest, train (on a private copy: it adds reviews) ---

@pytest.fixture()
def built_copy(built: Built, tmp_path: Path) -> Built:
    """A private copy of the synthetic warehouse, for a test that writes to it."""
    copy = Built(tmp_path / "copy" / "karl.duckdb", tmp_path / "copy" / "target")
    copy.db_path.parent.mkdir()
    shutil.copyfile(built.db_path, copy.db_path)
    return copy


def test_review_queue_export_review_ingest_and_train(built_copy: Built, tmp_path: Path) -> None:
    built = built_copy
    runner = CliRunner()
    db = ["--db", str(built.db_path)]
    outputs = {"csv": tmp_path / "queue.csv", "argilla": tmp_path / "queue_argilla",
               "labelstudio": tmp_path / "queue_ls.json"}
    for fmt, out in outputs.items():
        result = runner.invoke(app, ["export", "review-queue", "--format", fmt, "--out", str(out), *db])
        assert result.exit_code == 0, result.output
        assert "12 pairs written" in result.output

    # Label Studio: tasks + labeling config; every prediction scored and naming a choice of the config
    tasks = json.loads(outputs["labelstudio"].read_text())
    config = ElementTree.fromstring((tmp_path / "queue_ls.labeling_config.xml").read_text())
    choices = {c.get("name"): [choice.get("value") for choice in c] for c in config.iter("Choices")}
    assert choices["relation_label"] == ["substitute", "complement", "other"] and len(choices["fbl_label"]) == 9
    assert len(tasks) == 12 and {"pair_key", "item_a_title", "item_b_title", "llm_votes"} <= set(tasks[0]["data"])
    for task in tasks:
        (prediction,) = task["predictions"]
        assert 0.0 <= prediction["score"] <= 1.0
        assert all(r["value"]["choices"][0] in choices[r["from_name"]] for r in prediction["result"])
    # Argilla: the folder rg.Dataset.from_disk reads (the SDK round trip is in test_review_tools_sdk.py)
    settings = json.loads((outputs["argilla"] / ".argilla" / "settings.json").read_text())
    records = json.loads((outputs["argilla"] / "records.json").read_text())
    assert settings["questions"][0]["settings"]["options"][0]["value"] == "substitute"
    assert len(records) == 12 and set(records[0]["fields"]) == {f["name"] for f in settings["fields"]}

    # a reviewer fills three rows of the CSV: two good decisions, one unknown label
    with outputs["csv"].open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    fieldnames = list(rows[0])
    rows[0].update(relation_label="complement", reviewer_id="alice", note="used together")
    rows[1].update(fbl_label="1")  # 9-class code only: substitute
    rows[2].update(relation_label="banana")
    reviewed = tmp_path / "reviewed.csv"
    with reviewed.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    result = runner.invoke(app, ["ingest", "reviews", str(reviewed), "--reviewer", "bob", *db])
    assert result.exit_code == 0, result.output
    assert "2 reviews loaded" in result.output and "bad_relation_label: 1" in result.output
    again = runner.invoke(app, ["ingest", "reviews", str(reviewed), *db])
    assert "already ingested" in again.output

    # a Label Studio export of the project: one task annotated
    tasks[3]["annotations"] = [{"completed_by": {"email": "carol@example.invalid"}, "result": [
        {"from_name": "relation_label", "to_name": "item_a", "type": "choices", "value": {"choices": ["other"]}}]}]
    exported = tmp_path / "labelstudio_export.json"
    exported.write_text(json.dumps(tasks))
    result = runner.invoke(app, ["ingest", "reviews", str(exported), *db])
    assert result.exit_code == 0 and "1 reviews loaded" in result.output, result.output

    warehouse.run_dbt(["build", "--select", "stg_karl__human_reviews+"], db_path=built.db_path,
                      target_path=built.target_path)
    expected = {rows[0]["pair_key"]: ("complement", "alice"), rows[1]["pair_key"]: ("substitute", "bob"),
                tasks[3]["data"]["pair_key"]: ("other", "carol@example.invalid")}
    connection = warehouse.connect(built.db_path)
    try:
        trained = connection.execute("""
            select labels.pair_key, labels.relation_label, lineage.source_annotator
            from marts.fct_training_labels as labels
            inner join marts.fct_label_lineage as lineage on labels.training_label_id = lineage.training_label_id
            where labels.label_source = 'review' and lineage.source_kind = 'human_review'
        """).fetchall()
        queue = dict(connection.execute(
            "select pair_key, bool_or(is_reviewed) from marts.fct_review_queue group by pair_key").fetchall())
        quarantined = connection.execute(
            "select source_line, reason from raw.quarantine where source = 'reviews'").fetchall()
    finally:
        connection.close()
    assert {key: (label, who) for key, label, who in trained} == expected
    assert {key for key, is_reviewed in queue.items() if is_reviewed} == set(expected)
    assert quarantined == [(4, quarantined[0][1])] and quarantined[0][1].startswith("bad_relation_label")
