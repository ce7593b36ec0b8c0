"""great-expectations as its users know it: the suite FILE is what runs (an expectation added to
it is evaluated and quarantines), every validation is kept (GX store and raw.gx_validation_results)
and Data Docs are built offline. Runs on the session's copy of python_jobs/ingest/gx."""

from __future__ import annotations

import json
import os
from pathlib import Path

from python_jobs import warehouse
from python_jobs.ingest.gx_project import GxProject, ProjectValidator, land_results, source_of
from python_jobs.ingest.reviews import parse_file, validate_rows
from python_jobs.warehouse.keys import pair_key

A, B, C = "synth:0001", "synth:0002", "synth:0003"


def test_the_stored_suite_runs_its_added_expectation_results_are_kept_and_docs_built(tmp_path: Path) -> None:
    gx_dir = Path(os.environ["KARL_GX_DIR"])
    suite_file = gx_dir / "expectations" / "human_reviews.json"
    suite = json.loads(suite_file.read_text())
    suite["expectations"].append({"type": "expect_column_value_lengths_to_be_between",
                                  "kwargs": {"column": "note", "max_value": 20}, "meta": {}, "severity": "critical"})
    suite_file.write_text(json.dumps(suite))  # what a GX user does: edit the suite
    try:
        reviewed = tmp_path / "reviewed.csv"
        reviewed.write_text("pair_key,item_a_id,item_b_id,relation_label,note\n"
                            f"{pair_key(A, B)},{A},{B},complement,short\n"
                            f"{pair_key(A, C)},{A},{C},banana,\n"
                            f"{pair_key(B, C)},{B},{C},other,{'a note far longer than twenty characters'}\n")
        rows, _ = parse_file(reviewed, reviewed.read_bytes(), "bob")
        validator = ProjectValidator(GxProject())
        good, quarantined = validate_rows(rows, validator)
        assert [r.pair_key for r in good] == [pair_key(A, B)]
        reasons = {q.source_line: q.reason.split(":")[0] for q in quarantined}
        assert reasons == {3: "bad_relation_label", 4: "expectation_failed"}  # karl's check, then the file's

        (summary,) = validator.summaries
        assert (summary.checkpoint, summary.suite, summary.success) == ("reviews", "human_reviews", False)
        assert summary.evaluated_expectations == len(suite["expectations"]) and summary.unexpected_rows == 2
        with warehouse.connection(tmp_path / "karl.duckdb") as con:
            land_results(con, validator.summaries, {"human_reviews": "batch-1"})
            land_results(con, validator.summaries, {"human_reviews": "batch-1"})  # idempotent
            assert con.execute("select checkpoint, batch_id, success, unexpected_rows "
                               "from raw.gx_validation_results").fetchall() == [("reviews", "batch-1", False, 2)]
        index = validator.project.build_docs()
        assert index.exists() and list((index.parent / "validations" / "human_reviews").rglob("*.html"))
        assert "http" not in json.dumps(summary.result_json)
    finally:
        suite["expectations"].pop()
        suite_file.write_text(json.dumps(suite, indent=2))


def test_one_checkpoint_per_source_and_one_for_the_annotator_calls() -> None:
    gx_dir = Path(os.environ["KARL_GX_DIR"])
    stored = {path.stem for path in (gx_dir / "checkpoints").glob("*.json")}
    assert {"fbl", "baskets", "reviews", "annotator_calls"} <= stored  # catalogue: at the first catalogue ingest
    assert source_of("catalog_shop") == "catalogue" and source_of("FBL2024_pairs") == "fbl"
