"""`karl ingest labels FILE --dataset NAME [--catalog NAME]`: a labelled dataset in long form, one
row per judgement, through the CLI on real DuckDB files (no mocks). Bad input is quarantined with
its reason and line (or the file rejected with one sentence), never half-loaded, never a Traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hostile_fixtures import karl
from ingest_fixtures import query

HEADER = "item_a_id,item_b_id,relation_label,fbl_label,annotator_id,item_a_title,item_b_title"
GOOD_ROWS = [
    "p1,p2,complement,,ann1,Printer X200,Toner X200 black",
    "p1,p2,complement,2,ann2,Printer X200,Toner X200 black",
    "p1,p2,other,,ann3,Printer X200,Toner X200 black",
    "p3,p4,substitute,1,ann1,Blue pen,Black pen",
    "p3,p4,substitute,,ann2,,",  # titles given once are enough: the items are known from line 5
]


def write(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def ingest(path: Path, db_path: Path, dataset: str = "shop", *extra: str, expect: int | None = 0):
    return karl("ingest", "labels", path, "--dataset", dataset, "--db", db_path, *extra, expect=expect)


def live_judgements(db_path: Path, dataset: str = "shop") -> list[tuple]:
    return query(db_path, """
        select source_line, item_a_id, item_b_id, annotator_slot, annotator_id, raw_label, label_scheme
        from raw.labelled_judgements
        where dataset = ? and batch_id = (
            select max_by(batch_id, ingested_at) from raw.labelled_judgements where dataset = ?
                and batch_id not in (select batch_id from raw.ingest_retractions))
        order by source_line""", [dataset, dataset])


def quarantine(db_path: Path) -> list[tuple]:
    return query(db_path, "select source_line, reason from raw.quarantine order by source_line, reason")


def test_long_form_csv_loads_one_row_per_judgement_in_the_namespace(tmp_path: Path, db_path: Path) -> None:
    result = ingest(write(tmp_path / "shop.csv", GOOD_ROWS), db_path)
    assert "shop.csv: 5 judgements loaded, 0 quarantine rows" in result.output
    assert live_judgements(db_path) == [
        (2, "shop:p1", "shop:p2", 1, "ann1", 2, "relation3"),
        (3, "shop:p1", "shop:p2", 2, "ann2", 2, "fbl9"),
        (4, "shop:p1", "shop:p2", 3, "ann3", 3, "relation3"),
        (5, "shop:p3", "shop:p4", 1, "ann1", 1, "fbl9"),
        (6, "shop:p3", "shop:p4", 2, "ann2", 1, "relation3"),
    ]
    assert query(db_path, "select distinct catalog from raw.labelled_judgements") == [("shop",)]
    # --catalog names the namespace of bare ids (ids with a namespace keep theirs)
    rows = ["p1,askul:9,complement,,a,Printer,Paper"]
    ingest(write(tmp_path / "mine.csv", rows), db_path, "mine", "--catalog", "team")
    assert query(db_path, "select item_a_id, item_b_id, catalog from raw.labelled_judgements where dataset = 'mine'") == [
        ("team:p1", "askul:9", "team")]


def test_without_annotator_ids_each_judgement_is_its_own_annotator(tmp_path: Path, db_path: Path) -> None:
    path = write(tmp_path / "few.csv", ["p1,p2,complement,Printer,Toner", "p1,p2,other,,"],
                 header="item_a_id,item_b_id,relation_label,item_a_title,item_b_title")
    ingest(path, db_path)
    assert [row[3:5] for row in live_judgements(db_path)] == [(1, "1"), (2, "2")]


@pytest.mark.parametrize("kind", ["tsv", "jsonl", "parquet"])
def test_tsv_json_lines_and_parquet_read_like_the_csv(kind: str, tmp_path: Path, db_path: Path) -> None:
    ingest(write(tmp_path / "shop.csv", GOOD_ROWS), db_path, "from_csv")
    frame = pd.read_csv(tmp_path / "shop.csv", dtype=str, keep_default_na=False)
    path = tmp_path / f"shop.{kind}"
    if kind == "tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif kind == "jsonl":
        path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in frame.to_dict("records")) + "\n")
    else:  # a numeric label column with nulls is float in Parquet: 2.0 reads as code 2
        frame.assign(fbl_label=pd.to_numeric(frame["fbl_label"])).to_parquet(path, index=False)
    ingest(path, db_path, "other")
    # the namespaces differ (each dataset's own); everything else is the same. Lines are physical
    # lines: JSON lines have no header, so their first row is line 1 (Parquet rows count from 2).
    offset = 1 if kind == "jsonl" else 0
    strip = lambda rows, shift=0: [(line + shift, a.split(":")[1], b.split(":")[1], *rest)  # noqa: E731
                                   for line, a, b, *rest in rows]
    assert strip(live_judgements(db_path, "other"), offset) == strip(live_judgements(db_path, "from_csv"))


def test_unknown_items_without_titles_are_quarantined_with_reason_and_line(tmp_path: Path, db_path: Path) -> None:
    rows = [*GOOD_ROWS, "p9,p1,other,,ann1,,"]  # p9 is nowhere and has no title
    result = ingest(write(tmp_path / "shop.csv", rows), db_path)
    assert "unknown_item: 1" in result.output
    assert quarantine(db_path) == [(7, "unknown_item: shop:p9 is in no catalogue nor labelled dataset and the row "
                                       "gives no title (item_a_title / item_b_title)")]
    assert len(live_judgements(db_path)) == 5
    # an item a catalogue or an earlier dataset holds needs no title
    ingest(write(tmp_path / "more.csv", ["p1,p3,other,,ann1,,"]), db_path, "more", "--catalog", "shop")
    assert quarantine(db_path)[1:] == []


def test_a_class_outside_the_seeds_is_that_annotators_missing_answer(tmp_path: Path, db_path: Path) -> None:
    rows = [*GOOD_ROWS, "p5,p6,accessory,,ann1,Lamp,Bulb", "p5,p6,other,12,ann2,Lamp,Bulb", "p5,p6,,,ann3,Lamp,Bulb",
            "p5,p6,other,,ann4,Lamp,Bulb"]
    result = ingest(write(tmp_path / "shop.csv", rows), db_path)
    found = quarantine(db_path)
    assert [line for line, _ in found] == [7, 8, 9]
    assert found[0][1].startswith("label_not_in_scheme: relation_label") and "'accessory'" in found[0][1]
    assert found[1][1].startswith("label_not_in_scheme: fbl_label")
    assert found[2][1] == "blank_label: relation_label and fbl_label are blank (the annotator's missing answer)"
    assert "label_not_in_scheme: 2" in result.output and "blank_label: 1" in result.output
    # the pair's valid answer keeps its annotator's place (slot 4), as FBL's blank labels do
    assert [row for row in live_judgements(db_path) if row[1] == "shop:p5"] == [
        (10, "shop:p5", "shop:p6", 4, "ann4", 3, "relation3")]


def test_an_fbl_code_contradicting_the_relation_label_is_quarantined(tmp_path: Path, db_path: Path) -> None:
    rows = [*GOOD_ROWS, "p1,p2,complement,1,ann4,Printer X200,Toner X200 black"]
    result = ingest(write(tmp_path / "shop.csv", rows), db_path)
    assert quarantine(db_path) == [(7, "label_contradiction: fbl_label 1 is substitute (seeds/fbl_classes.csv), "
                                       "the row says complement")]
    assert "label_contradiction: 1" in result.output


def test_duplicates_reversed_pairs_self_pairs_and_blank_ids(tmp_path: Path, db_path: Path) -> None:
    rows = [*GOOD_ROWS, "p1,p2,other,,ann1,Printer X200,Toner X200 black", "p2,p1,other,,ann9,,", "p1,p1,other,,ann1,,",
            ",p1,other,,ann1,,", "p3,p4,other,,,,"]
    ingest(write(tmp_path / "shop.csv", rows), db_path)
    kinds = [(line, reason.split(":")[0]) for line, reason in quarantine(db_path)]
    assert kinds == [(7, "duplicate_judgement"), (8, "reversed_duplicate"), (9, "self_pair"), (10, "blank_item_id"),
                     (11, "blank_annotator_id")]
    assert len(live_judgements(db_path)) == 5


def test_a_file_without_its_required_columns_loads_nothing(tmp_path: Path, db_path: Path) -> None:
    path = write(tmp_path / "bad.csv", ["p1,p2,ann1"], header="item_a_id,item_b_id,annotator_id")
    result = ingest(path, db_path, expect=1)
    assert "was not loaded: missing_column: bad.csv: required column relation_label or fbl_label is missing" in result.output
    assert query(db_path, "select count(*) from raw.labelled_judgements") == [(0,)]
    binary = tmp_path / "labels.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    assert "looks binary" in ingest(binary, db_path, expect=1).output


def test_reingest_is_idempotent_and_other_rows_are_a_new_version(tmp_path: Path, db_path: Path) -> None:
    path = write(tmp_path / "shop.csv", GOOD_ROWS)
    ingest(path, db_path)
    snapshot = query(db_path, "select * from raw.labelled_judgements order by all")
    again = ingest(path, db_path)
    assert "already ingested: nothing changed" in again.output
    assert query(db_path, "select * from raw.labelled_judgements order by all") == snapshot

    changed = [GOOD_ROWS[0].replace("complement", "substitute"), *GOOD_ROWS[1:4], "p5,p6,other,,ann1,Lamp,Bulb"]
    result = ingest(write(tmp_path / "shop_v2.csv", changed), db_path)
    for line in ("new version of shop, replacing batch", "judgements added: 1", "judgements changed: 1",
                 "judgements removed: 1", "judgements unchanged: 3"):
        assert line in result.output, result.output
    assert [row[1] for row in live_judgements(db_path)].count("shop:p5") == 1
    # undo the new version: the first one is served again
    batch = query(db_path, "select batch_id from raw.ingest_batches where source_file = 'shop_v2.csv'")[0][0]
    karl("ingest", "undo", batch[:12], "--db", db_path, expect=0)
    assert len(live_judgements(db_path)) == 5 and all(row[1] != "shop:p5" for row in live_judgements(db_path))


def test_bad_names_are_refused_with_one_message(tmp_path: Path, db_path: Path) -> None:
    path = write(tmp_path / "shop.csv", GOOD_ROWS)
    for name in ("none", "a,b", "x'y", ""):
        result = ingest(path, db_path, name, expect=2)
        assert "dataset" in result.output


def test_built_marts_resolve_the_majority_and_create_titled_items(tmp_path: Path, db_path: Path) -> None:
    ingest(write(tmp_path / "shop.csv", GOOD_ROWS), db_path)
    karl("build", "--db", db_path, expect=0)
    assert query(db_path, """
        select dataset, pair_key, relation_label, fbl_label, has_majority, is_trainable, n_judgements
        from marts.fct_human_labels order by pair_key""") == [
        ("shop", "shop:p1~shop:p2", "complement", None, True, False, 3),
        ("shop", "shop:p3~shop:p4", "substitute", None, True, False, 2),
    ]
    assert query(db_path, "select item_id, title, catalog from marts.dim_items order by item_id") == [
        ("shop:p1", "Printer X200", "shop"), ("shop:p2", "Toner X200 black", "shop"),
        ("shop:p3", "Blue pen", "shop"), ("shop:p4", "Black pen", "shop")]
