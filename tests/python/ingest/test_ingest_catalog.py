"""`karl ingest catalog` on synthetic CSV and Parquet catalogues."""

from __future__ import annotations

from pathlib import Path

import duckdb
from ingest_fixtures import query
from typer.testing import CliRunner

from python_jobs.cli import app

runner = CliRunner()
OPTIONS = ["--id-column", "sku", "--title-column", "name", "--category-columns", "dept,aisle"]


def ingest(path: Path, db_path: Path, *options: str):
    return runner.invoke(app, ["ingest", "catalog", str(path), *(options or OPTIONS), "--db", str(db_path)])


def items(db_path: Path) -> list[tuple]:
    return query(db_path, "select catalog, item_id, title, category_l1, category_l2, category_l3 from raw.catalog_items order by item_id")


def reasons(db_path: Path) -> list[tuple]:
    return query(db_path, "select source_line, raw_line, reason from raw.quarantine order by source_line, reason")


def write(path: Path, text: str, newline: str = "\n", bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.replace("\n", newline).encode())
    return path


def test_csv_bad_records_are_quarantined_and_good_ones_load(tmp_path: Path, db_path: Path) -> None:
    text = (
        "sku,name,dept,aisle\n"
        'S1,"Pen, blue",Office,Pens\n'
        "S2,,Office,Paper\n"            # blank title
        "S3,Stapler,Office,Desk,extra\n"  # wrong field count
        "S1,Tape,Office,Desk\n"         # repeated id
        "S4,Notebook,,Paper\n"          # blank category
        '"S5","Desk lamp ""mini""",Home,Lights\n'
        "S6,Glue,Off"                    # truncated last line
    )
    path = write(tmp_path / "shop.csv", text, newline="\r\n", bom=True)
    result = ingest(path, db_path)
    assert result.exit_code == 0, result.output
    assert "shop.csv: 2 items loaded, 5 quarantine rows" in result.output
    for kind in ("blank_title: 1", "wrong_field_count: 2", "duplicate_item_id: 1", "blank_category: 1"):
        assert kind in result.output
    assert items(db_path) == [
        ("shop", "shop:S1", "Pen, blue", "Office", "Pens", None),
        ("shop", "shop:S5", 'Desk lamp "mini"', "Home", "Lights", None),
    ]
    assert reasons(db_path) == [
        (3, "S2,,Office,Paper", "blank_title: title (name) is blank"),
        (4, "S3,Stapler,Office,Desk,extra", "wrong_field_count: 5 fields, the header has 4"),
        (5, "S1,Tape,Office,Desk", "duplicate_item_id: item id 'S1' already on line 2"),
        (6, "S4,Notebook,,Paper", "blank_category: category (dept) is blank"),
        (8, "S6,Glue,Off", "wrong_field_count: 3 fields, the header has 4 (the file looks truncated)"),
    ]


def test_missing_column_rejects_the_file(tmp_path: Path, db_path: Path) -> None:
    path = write(tmp_path / "shop.csv", "sku,title,dept\nS1,Pen,Office\n")
    result = ingest(path, db_path, "--id-column", "sku", "--title-column", "name", "--category-columns", "dept")
    assert result.exit_code == 1
    assert "required column name is missing" in result.output
    assert items(db_path) == []
    [(line, raw_line, reason)] = reasons(db_path)
    assert (line, raw_line) == (1, "sku,title,dept")
    assert reason.startswith("missing_column: required column name is missing")


def test_parquet_catalogue_with_three_levels_is_idempotent(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "store.parquet"
    con = duckdb.connect()
    con.execute(
        f"""
        copy (select * from (values
            (101, 'Oat milk', 'Food', 'Dairy', 'Milk'),
            (102, '', 'Food', 'Dairy', 'Milk'),
            (103, 'Rye bread', 'Food', 'Bakery', 'Bread'),
            (101, 'Soy milk', 'Food', 'Dairy', 'Milk')
        ) as t(id, label, l1, l2, l3)) to '{path}' (format parquet)
        """
    )
    con.close()
    options = ["--id-column", "id", "--title-column", "label", "--category-columns", "l1,l2,l3", "--name", "store"]
    first = ingest(path, db_path, *options)
    assert first.exit_code == 0, first.output
    assert items(db_path) == [
        ("store", "store:101", "Oat milk", "Food", "Dairy", "Milk"),
        ("store", "store:103", "Rye bread", "Food", "Bakery", "Bread"),
    ]
    assert reasons(db_path) == [
        (2, '{"id":102,"label":"","l1":"Food","l2":"Dairy","l3":"Milk"}', "blank_title: title (label) is blank"),
        (4, '{"id":101,"label":"Soy milk","l1":"Food","l2":"Dairy","l3":"Milk"}', "duplicate_item_id: item id '101' already on line 1"),
    ]
    second = ingest(path, db_path, *options)
    assert second.exit_code == 0
    assert "already ingested: nothing changed" in second.output
    assert len(items(db_path)) == 2 and len(reasons(db_path)) == 2
    assert query(db_path, "select count(*) from raw.ingest_batches") == [(1,)]


def test_more_than_three_category_columns_is_refused(tmp_path: Path, db_path: Path) -> None:
    path = write(tmp_path / "shop.csv", "sku,name,a,b,c,d\nS1,Pen,1,2,3,4\n")
    result = ingest(path, db_path, "--id-column", "sku", "--title-column", "name", "--category-columns", "a,b,c,d")
    assert result.exit_code == 2
    assert "give 1 to 3 category columns" in result.output


def test_a_catalogue_ingested_again_with_other_columns_is_checked_on_those(tmp_path: Path, db_path: Path) -> None:
    first = write(tmp_path / "first" / "mapped.csv", "sku,name,dept\nS1,Pen,Office\n")
    assert ingest(first, db_path, "--id-column", "sku", "--title-column", "name", "--category-columns", "dept").exit_code == 0
    again = write(tmp_path / "again" / "mapped.csv", "code,label,family,shelf\nS2,Lamp,Home,\nS3,Mug,,Cups\nS4,Bowl,Home,Dishes\n")
    result = ingest(again, db_path, "--id-column", "code", "--title-column", "label", "--category-columns", "family,shelf")
    assert result.exit_code == 0, result.output
    assert [row[1] for row in items(db_path)] == ["mapped:S1", "mapped:S4"]
    assert [(line, reason) for line, _, reason in reasons(db_path)] == [
        (2, "blank_category: category (shelf) is blank"),
        (3, "blank_category: category (family) is blank"),
    ]
