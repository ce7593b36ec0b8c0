"""Hostile input to `karl ingest`: every case of issue 14 answers with a message or a quarantine
row, nothing is half loaded, and the warehouse still builds."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hostile_fixtures import karl, one_line, raw_consistency
from ingest_fixtures import fbl_text, good_2023, query, write_pair_of_files

CATALOG_FLAGS = ("--id-column", "id", "--title-column", "title", "--category-columns", "cat")
REVIEW_HEADER = "pair_key,item_a_id,item_b_id,relation_label\n"


def ingest_catalog(path: Path, db: Path, *flags: str, expect: int | None = 0):
    return karl("ingest", "catalog", path, *(flags or CATALOG_FLAGS), "--db", db, expect=expect)


def quarantine_reasons(db: Path, source: str = "catalog") -> list[str]:
    return [reason for (reason,) in query(
        db, "select reason from raw.quarantine where source = ? order by source_line, reason", [source])]


def build_passes(db: Path, select: str) -> None:
    result = karl("build", "--select", select, "--db", db)
    assert result.exit_code == 0, result.output


def an_fbl_pair(db: Path) -> tuple[str, str]:
    (a, b), = query(db, "select item_a_id, item_b_id from raw.labelled_judgements where dataset = 'FBL2024' order by all limit 1")
    return a, b


# --- case 1: a review can wedge the warehouse ------------------------------------------------


def test_a_review_of_a_pair_not_in_the_warehouse_is_quarantined_and_the_build_passes(
        tmp_path: Path, fbl_warehouse: Path) -> None:
    a, b = an_fbl_pair(fbl_warehouse)
    reviews = tmp_path / "reviewed.csv"
    reviews.write_text(REVIEW_HEADER
                       + "askul:NOPE1~askul:NOPE2,askul:NOPE1,askul:NOPE2,substitute\n"
                       + f"{min(a, b)}~{max(a, b)},{a},{b},complement\n"
                       + f"{min(a, 'askul:NOPE3')}~{max(a, 'askul:NOPE3')},{a},askul:NOPE3,other\n")
    result = karl("ingest", "reviews", reviews, "--db", fbl_warehouse, expect=0)
    assert "1 reviews loaded" in one_line(result.output)
    reasons = quarantine_reasons(fbl_warehouse, "reviews")
    assert reasons == ["unknown_item: item askul:NOPE1 is in no ingested catalogue or labelled dataset",
                       "unknown_item: item askul:NOPE3 is in no ingested catalogue or labelled dataset"]
    assert query(fbl_warehouse, "select source_line from raw.quarantine where source = 'reviews' order by 1") == [(2,), (4,)]
    build_passes(fbl_warehouse, "stg_karl__human_reviews+")


def test_a_review_already_in_raw_with_unknown_items_is_filtered_by_staging(fbl_warehouse: Path) -> None:
    """The fallback: a row that reached raw before the ingest checked references (an older karl)
    is held back by staging, so the build still passes."""
    con = duckdb.connect(str(fbl_warehouse))
    try:
        con.execute("""insert into raw.ingest_batches values ('old-batch', 'reviews', 'old.csv', 'x', 1, 0, now())""")
        con.execute("""insert into raw.human_reviews values ('r1', 'askul:NOPE1~askul:NOPE2', 'askul:NOPE1',
                       'askul:NOPE2', 'reviewer', null, 'substitute', null, 'old-batch', now())""")
    finally:
        con.close()
    build_passes(fbl_warehouse, "stg_karl__human_reviews+")
    assert query(fbl_warehouse, "select count(*) from staging.stg_karl__human_reviews") == [(0,)]


def test_ingest_undo_retracts_a_batch_and_staging_honours_it(tmp_path: Path, fbl_warehouse: Path) -> None:
    a, b = an_fbl_pair(fbl_warehouse)
    reviews = tmp_path / "reviewed.csv"
    reviews.write_text(REVIEW_HEADER + f"{min(a, b)}~{max(a, b)},{a},{b},substitute\n")
    karl("ingest", "reviews", reviews, "--db", fbl_warehouse, expect=0)
    (batch_id,) = query(fbl_warehouse, "select batch_id from raw.ingest_batches where source = 'reviews'")[0]
    result = karl("ingest", "undo", batch_id[:12], "--db", fbl_warehouse, expect=0)
    text = one_line(result.output)
    assert f"batch {batch_id[:12]}" in text and "retracted" in text and "1 reviews" in text
    assert query(fbl_warehouse, "select count(*) from raw.human_reviews") == [(1,)]  # raw stays append-only
    assert query(fbl_warehouse, "select count(*) from raw.ingest_retractions") == [(1,)]
    build_passes(fbl_warehouse, "stg_karl__human_reviews+")
    assert query(fbl_warehouse, "select count(*) from staging.stg_karl__human_reviews") == [(0,)]
    again = karl("ingest", "undo", batch_id, "--db", fbl_warehouse, expect=0)
    assert "already retracted" in one_line(again.output)


def test_ingest_undo_of_an_unknown_batch_is_a_message(db_path: Path) -> None:
    result = karl("ingest", "undo", "feedface", "--db", db_path, expect=1)
    assert "no ingest batch starts with 'feedface'" in one_line(result.output)


# --- case 2: catalogue items keyed by catalogue and id ---------------------------------------


@pytest.fixture(scope="module")
def catalogue_warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Two catalogues with overlapping ids, and one catalogue re-ingested with a changed row, an
    unchanged one and a new one; built once (`karl build`, ~60 s) for the tests below."""
    folder = tmp_path_factory.mktemp("catalogues")
    db = folder / "karl.duckdb"
    (folder / "shop_a.csv").write_text("id,title,cat\n1,Red pen,pens\n2,Blue pen,pens\n")
    (folder / "shop_b.csv").write_text("id,title,cat\n1,Stapler,office\n2,Paper,office\n")
    ingest_catalog(folder / "shop_a.csv", db)
    ingest_catalog(folder / "shop_b.csv", db)
    path = folder / "shop.csv"
    path.write_text("id,title,cat\n1,Red pen,pens\n2,Blue pen,pens\n")
    ingest_catalog(path, db)
    path.write_text("id,title,cat\n1,Red pen,pens\n2,Blue gel pen,pens\n3,Eraser,office\n")
    summary = one_line(ingest_catalog(path, db).output)
    result = karl("build", "--db", db)
    assert result.exit_code == 0, result.output
    return db, summary


def test_two_catalogues_with_overlapping_ids_keep_all_their_items(catalogue_warehouse: tuple[Path, str]) -> None:
    db, _ = catalogue_warehouse
    assert query(db, "select item_id, title from marts.dim_items where catalog like 'shop_%' order by 1") == [
        ("shop_a:1", "Red pen"), ("shop_a:2", "Blue pen"), ("shop_b:1", "Stapler"), ("shop_b:2", "Paper")]


def test_a_changed_row_of_a_re_ingested_catalogue_becomes_a_new_version(catalogue_warehouse: tuple[Path, str]) -> None:
    db, summary = catalogue_warehouse
    assert "2 items loaded" in summary
    assert "new: 1" in summary and "changed (new version): 1" in summary and "unchanged: 1" in summary
    assert query(db, "select item_id, title from marts.dim_items where catalog = 'shop' order by 1") == [
        ("shop:1", "Red pen"), ("shop:2", "Blue gel pen"), ("shop:3", "Eraser")]
    assert query(db, "select count(*) from raw.catalog_items where item_id = 'shop:2'") == [(2,)]


# --- case 3: files that used to raise --------------------------------------------------------


def test_a_duplicated_header_column_rejects_the_file_with_a_message(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("id,title,cat,cat\n1,a,x,y\n")
    text = one_line(ingest_catalog(path, db_path, expect=1).output)
    assert "dup.csv was not loaded: duplicate_column: column 'cat' appears 2 times in the header" in text
    assert query(db_path, "select count(*) from raw.catalog_items") == [(0,)]


def test_a_duplicated_header_column_in_a_review_csv_rejects_the_file(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "dup_reviews.csv"
    path.write_text("pair_key,item_a_id,item_b_id,relation_label,relation_label\nk,a,b,other,other\n")
    text = one_line(karl("ingest", "reviews", path, "--db", db_path, expect=1).output)
    assert "duplicate_column: column 'relation_label' appears 2 times in the header" in text


def test_a_field_longer_than_131072_characters_loads_with_the_rest_of_the_file(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("id,title,cat\n1," + "a" * 140_000 + ",x\n2,b,y\n")
    text = one_line(ingest_catalog(path, db_path).output)
    assert "2 items loaded" in text
    assert query(db_path, "select max(length(title)) from raw.catalog_items") == [(140_000,)]


@pytest.mark.parametrize("name", ["binary.csv", "binary.parquet", "binary.tsv"])
def test_a_binary_file_is_rejected_by_its_content_not_its_name(tmp_path: Path, db_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) * 20)
    text = one_line(ingest_catalog(path, db_path, expect=1).output)
    assert f"{name} was not loaded: unreadable_file:" in text
    assert "not a Parquet file" in text if name.endswith(".parquet") else "looks binary" in text


def test_a_parquet_file_named_csv_is_read_as_parquet(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "items.csv"
    pq.write_table(pa.table({"id": ["1", "2"], "title": ["a", "b"], "cat": ["x", "y"]}), path)
    assert "2 items loaded" in one_line(ingest_catalog(path, db_path).output)


def test_a_parquet_column_name_with_a_double_quote_reaches_sql_quoted(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "quoted.parquet"
    pq.write_table(pa.table({"i'd": ["1", "2"], 'ti"tle': ["a", "b"], "c\"a't": ["x", "y"]}), path)
    result = ingest_catalog(path, db_path, "--id-column", "i'd", "--title-column", 'ti"tle', "--category-columns", "c\"a't")
    assert "2 items loaded" in one_line(result.output)
    assert query(db_path, "select title from raw.catalog_items order by 1") == [("a",), ("b",)]


@pytest.mark.parametrize("payload, found", [
    ([1, 2, 3], "a list of int"),
    (["a", "b"], "a list of str"),
    ("hello", "a JSON string"),
    (None, "JSON null"),
    ({"records": 5}, "records is int"),
])
def test_a_reviews_json_of_the_wrong_shape_is_a_message(
        tmp_path: Path, db_path: Path, payload: object, found: str) -> None:
    path = tmp_path / "reviews.json"
    path.write_text(json.dumps(payload))
    text = one_line(karl("ingest", "reviews", path, "--db", db_path, expect=1).output)
    assert "was not loaded: unreadable_file: expected a Label Studio task list or Argilla records" in text
    assert found in text
    assert raw_consistency(db_path) == []


# --- case 6: silent data changes ------------------------------------------------------------


def test_parquet_values_of_the_wrong_type_are_quarantined(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table({
        "id": pa.array([1, 2], pa.int64()),
        "title": pa.array([["a", "list"], ["b"]]),
        "cat": pa.array([{"x": 1}, {"x": 2}]),
        "score": pa.array([1.5, 2.5]),
    }), path)
    text = one_line(ingest_catalog(path, db_path).output)
    assert "0 items loaded" in text and "wrong_type: 2" in text
    reasons = quarantine_reasons(db_path)
    assert reasons[0].startswith("wrong_type: title (title) is VARCHAR[], not text")
    floats = tmp_path / "floats.parquet"
    pq.write_table(pa.table({"id": ["1"], "title": pa.array([1.5]), "cat": ["x"]}), floats)
    assert "wrong_type: 1" in one_line(ingest_catalog(floats, db_path).output)


def test_nul_bytes_in_a_catalogue_row_quarantine_that_row(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"id,title,cat\n1,Red\x00pen,pens\n2,Blue pen,pens\n")
    text = one_line(ingest_catalog(path, db_path).output)
    assert "1 items loaded" in text and "nul_byte: 1" in text
    assert query(db_path, "select count(*) from raw.catalog_items where contains(title, chr(0))") == [(0,)]


def test_nul_bytes_in_a_parquet_title_quarantine_that_row(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "nul.parquet"
    pq.write_table(pa.table({"id": ["1", "2"], "title": ["Red\x00pen", "Blue pen"], "cat": ["x", "y"]}), path)
    text = one_line(ingest_catalog(path, db_path).output)
    assert "1 items loaded" in text and "nul_byte: 1" in text


def test_conflicting_duplicate_reviews_of_one_pair_are_quarantined(tmp_path: Path, fbl_warehouse: Path) -> None:
    a, b = an_fbl_pair(fbl_warehouse)
    key = f"{min(a, b)}~{max(a, b)}"
    reviews = tmp_path / "reviewed.csv"
    reviews.write_text(REVIEW_HEADER + f"{key},{a},{b},substitute\n{key},{a},{b},other\n")
    text = one_line(karl("ingest", "reviews", reviews, "--db", fbl_warehouse, expect=0).output)
    assert "0 reviews loaded" in text and "conflicting_review: 2" in text
    assert quarantine_reasons(fbl_warehouse, "reviews") == [
        f"conflicting_review: reviewer reviewer labels pair {key} substitute here and other on line 3",
        f"conflicting_review: reviewer reviewer labels pair {key} other here and substitute on line 2",
    ]


def test_nul_bytes_in_an_fbl_line_quarantine_that_line(tmp_path: Path, db_path: Path) -> None:
    rows = good_2023(3)
    text = fbl_text(rows).replace("Test item T001", "Test\x00item T001")
    folder = write_pair_of_files(tmp_path / "fbl", text_2023=text)
    output = one_line(karl("ingest", "fbl", "--dir", folder, "--db", db_path, expect=0).output)
    assert "FBL2023.tsv: 6 judgements loaded" in output and "nul_byte: 1" in output
    assert query(db_path, "select count(*) from raw.labelled_judgements where contains(item_a_title, chr(0))") == [(0,)]


def test_a_binary_file_named_like_an_fbl_file_is_rejected(tmp_path: Path, db_path: Path) -> None:
    folder = write_pair_of_files(tmp_path / "fbl")
    (folder / "FBL2023.tsv").write_bytes(bytes(range(256)) * 20)
    output = one_line(karl("ingest", "fbl", "--dir", folder, "--db", db_path, expect=1).output)
    assert "FBL2023.tsv was not loaded: unreadable_file: FBL2023.tsv looks binary" in output
    assert "FBL2024.tsv: 9 judgements loaded" in output
    assert raw_consistency(db_path) == []
