"""`karl ingest fbl` on synthetic files: one test per kind of bad input, idempotency, offline
download, and the real files (row accounting)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_fixtures import (
    HEADER,
    Row,
    fbl_text,
    good_2023,
    query,
    write_fbl,
    write_pair_of_files,
)
from typer.testing import CliRunner

from python_jobs import warehouse
from python_jobs.cli import app
from python_jobs.ingest.fbl import FblSourceError, ingest_fbl, split_lines

runner = CliRunner()


def ingest(folder: Path, db_path: Path, *extra: str):
    return runner.invoke(app, ["ingest", "fbl", "--dir", str(folder), "--db", str(db_path), *extra])


def quarantine(db_path: Path) -> list[tuple]:
    return query(db_path, "select source_file, source_line, raw_line, reason from raw.quarantine order by source_file, source_line")


def judgements(db_path: Path, dataset: str = "FBL2023") -> list[tuple]:
    return query(
        db_path,
        "select source_line, item_a_id, item_b_id, annotator_slot, raw_label from raw.labelled_judgements "
        "where dataset = ? order by source_line, annotator_slot",
        [dataset],
    )


def test_clean_files_load_every_judgement(tmp_path: Path, db_path: Path) -> None:
    result = ingest(write_pair_of_files(tmp_path / "fbl"), db_path)
    assert result.exit_code == 0, result.output
    assert "FBL2023.tsv: 12 judgements loaded, 0 quarantine rows" in result.output
    assert "FBL2024.tsv: 9 judgements loaded, 0 quarantine rows" in result.output
    rows = judgements(db_path)
    assert rows[0] == (2, "shop:T000", "shop:U000", 1, 1)
    assert query(db_path, "select distinct label_scheme from raw.labelled_judgements where dataset = 'FBL2024'") == [("relation3",)]
    assert quarantine(db_path) == []


def test_missing_column_rejects_the_file_and_names_the_column(tmp_path: Path, db_path: Path) -> None:
    header = [column for column in HEADER if column != "ANNOTATOR2_LABEL"]
    rows = ["\t".join(field for index, field in enumerate(row.fields()) if index != 7) for row in good_2023()]
    text = "\n".join(["\t".join(header), *rows]) + "\n"
    result = ingest(write_pair_of_files(tmp_path / "fbl", text_2023=text), db_path)
    assert result.exit_code == 1
    assert "required column ANNOTATOR2_LABEL is missing" in result.output
    assert judgements(db_path, "FBL2023") == []
    assert len(judgements(db_path, "FBL2024")) == 9  # the other file still loads
    [(source_file, line, raw_line, reason)] = quarantine(db_path)
    assert (source_file, line, raw_line) == ("FBL2023.tsv", 1, "\t".join(header))
    assert reason.startswith("missing_column: FBL2023.tsv: required column ANNOTATOR2_LABEL")


def test_label_outside_the_scheme_quarantines_that_judgement_only(tmp_path: Path, db_path: Path) -> None:
    rows = good_2023(3) + [Row("T100", "U100", labels=("1", "12", "3"))]
    folder = write_pair_of_files(tmp_path / "fbl", rows)
    # "3" is a valid fbl9 code but outside relation3: FBL2024 checks its own scheme.
    write_fbl(folder, "FBL2024.tsv", fbl_text([Row("V1", "W1", labels=("1", "3", "5"))]))
    result = ingest(folder, db_path)
    assert result.exit_code == 0, result.output
    assert "label_not_in_scheme: 1" in result.output
    assert "FBL2023.tsv: 11 judgements loaded" in result.output
    assert [row[3] for row in judgements(db_path) if row[0] == 5] == [1, 3]  # slots 1 and 3 of the bad line kept
    found = quarantine(db_path)
    assert ("FBL2023.tsv", 5, "\t".join(rows[3].fields()),
            "label_not_in_scheme: annotator 2: label (fbl9) '12' is not one of 1, 2, 3, 4, 5, 6, 7, 8, 9") in found
    assert ("FBL2024.tsv", 2, "\t".join(Row("V1", "W1", labels=("1", "3", "5")).fields()),
            "label_not_in_scheme: annotator 3: label (relation3) '5' is not one of 1, 2, 3") in found
    assert len(judgements(db_path, "FBL2024")) == 2


def test_blank_label_is_a_quarantined_judgement(tmp_path: Path, db_path: Path) -> None:
    rows = good_2023(2) + [Row("T100", "U100", labels=("", "", "8"))]
    result = ingest(write_pair_of_files(tmp_path / "fbl", rows), db_path)
    assert result.exit_code == 0, result.output
    assert "blank_label: 2" in result.output
    reasons = [row[3] for row in quarantine(db_path)]
    assert reasons == ["blank_label: annotator 1: label is blank", "blank_label: annotator 2: label is blank"]
    assert [row[3] for row in judgements(db_path) if row[0] == 4] == [3]


def test_blank_title_quarantines_the_line(tmp_path: Path, db_path: Path) -> None:
    rows = good_2023(2) + [Row("T100", "U100", title_b="   ")] + good_2023(4)[2:]
    result = ingest(write_pair_of_files(tmp_path / "fbl", rows), db_path)
    assert result.exit_code == 0, result.output
    assert "blank_title: 1" in result.output
    assert "FBL2023.tsv: 12 judgements loaded, 1 quarantine rows" in result.output
    [(_, line, raw_line, reason)] = quarantine(db_path)
    assert (line, raw_line) == (4, "\t".join(rows[2].fields()))
    assert reason == "blank_title: ITEM_NAME_2 (title of item B) is blank"
    assert 4 not in {row[0] for row in judgements(db_path)}


def test_duplicate_row_keeps_the_first(tmp_path: Path, db_path: Path) -> None:
    rows = good_2023(3) + [Row("T001", "U001", labels=("8", "8", "8"), annotators=("a4", "a5", "a6"))]
    result = ingest(write_pair_of_files(tmp_path / "fbl", rows), db_path)
    assert result.exit_code == 0, result.output
    assert "duplicate_row: 1" in result.output
    [(_, line, _, reason)] = quarantine(db_path)
    assert line == 5 and reason == "duplicate_row: pair shop:T001,shop:U001 already on line 3"
    assert [row[4] for row in judgements(db_path) if row[0] == 3] == [1, 1, 2]
    assert len(judgements(db_path)) == 9


def test_reversed_duplicate_pair_is_quarantined_unless_asked_to_keep(tmp_path: Path, db_path: Path) -> None:
    rows = good_2023(3) + [Row("U002", "T002", labels=("3", "3", "1"))]
    folder = write_pair_of_files(tmp_path / "fbl", rows)
    result = ingest(folder, db_path)
    assert result.exit_code == 0, result.output
    assert "reversed_duplicate: 1" in result.output
    [(_, line, _, reason)] = quarantine(db_path)
    assert line == 5
    assert reason == "reversed_duplicate: pair shop:U002,shop:T002 is line 4 reversed (shop:T002,shop:U002)"
    assert len(judgements(db_path)) == 9

    kept_db = tmp_path / "kept.duckdb"
    result = ingest(folder, kept_db, "--keep-reversed-pairs")
    assert result.exit_code == 0, result.output
    assert ("shop:U002", "shop:T002") in {(row[1], row[2]) for row in judgements(kept_db)}
    assert quarantine(kept_db) == []


def test_bom_and_crlf_line_endings(tmp_path: Path, db_path: Path) -> None:
    rows = good_2023(3) + [Row("T100", "U100", labels=("1", "x", "1"))]
    folder = tmp_path / "fbl"
    write_fbl(folder, "FBL2023.tsv", fbl_text(rows), newline="\r\n", bom=True)
    write_fbl(folder, "FBL2024.tsv", fbl_text([Row("V1", "W1")]).replace("8", "3").replace("9", "2"), newline="\r\n", bom=True)
    result = ingest(folder, db_path)
    assert result.exit_code == 0, result.output
    # The header is recognised despite the BOM; no value keeps a stray carriage return.
    assert "FBL2023.tsv: 11 judgements loaded, 1 quarantine rows" in result.output
    assert "FBL2024.tsv: 3 judgements loaded, 0 quarantine rows" in result.output
    [(_, line, raw_line, reason)] = quarantine(db_path)
    assert (line, raw_line) == (5, "\t".join(rows[3].fields()))
    assert reason == "label_not_in_scheme: annotator 2: label (fbl9) 'x' is not one of 1, 2, 3, 4, 5, 6, 7, 8, 9"
    assert query(db_path, "select count(*) from raw.labelled_judgements where item_b_title like '%' || chr(13) or annotator_id like '%' || chr(13)") == [(0,)]
    assert judgements(db_path)[-1] == (5, "shop:T100", "shop:U100", 3, 1)


@pytest.mark.parametrize("cut", ["mid_field", "mid_character"])
def test_truncated_last_line(tmp_path: Path, db_path: Path, cut: str) -> None:
    rows = good_2023(3) + [Row("T100", "U100", title_b="Test item ü")]
    data = fbl_text(rows).encode("utf-8").rstrip(b"\n")
    # a download cut short: inside the title of item B (or inside its last, two-byte character)
    end = data.index("Test item ü".encode()) + len("Test item ü".encode())
    data = data[: end - 1] if cut == "mid_character" else data[: end - 3]
    folder = write_pair_of_files(tmp_path / "fbl")
    (folder / "FBL2023.tsv").write_bytes(data)
    result = ingest(folder, db_path)
    assert result.exit_code == 0, result.output
    assert "FBL2023.tsv: 9 judgements loaded, 1 quarantine rows" in result.output
    [(_, line, raw_line, reason)] = quarantine(db_path)
    assert line == 5
    if cut == "mid_field":
        assert reason == "wrong_field_count: 4 fields, the header has 10 (the file looks truncated)"
        assert raw_line == data.decode().split("\n")[-1]
    else:
        assert reason == "invalid_utf8: bytes that are not UTF-8"
    assert "wrong_field_count: 1" in result.output or "invalid_utf8: 1" in result.output


def test_ingesting_twice_changes_nothing(tmp_path: Path, db_path: Path) -> None:
    rows = good_2023(3) + [Row("T100", "U100", labels=("1", "", "1"))]
    folder = write_pair_of_files(tmp_path / "fbl", rows)
    first = ingest(folder, db_path)
    assert first.exit_code == 0, first.output
    snapshot = [query(db_path, f"select * from raw.{table} order by all") for table in ("labelled_judgements", "quarantine", "ingest_batches")]
    second = ingest(folder, db_path)
    assert second.exit_code == 0, second.output
    assert "already ingested: nothing changed" in second.output
    assert [query(db_path, f"select * from raw.{table} order by all") for table in ("labelled_judgements", "quarantine", "ingest_batches")] == snapshot

    # A new version of the file is a new batch, a new version of the dataset (staging serves the
    # latest): the summary counts what it changes against the version it replaces.
    before = judgements(db_path)
    write_fbl(folder, "FBL2023.tsv", fbl_text(rows + [Row("T200", "U200")]))
    third = ingest(folder, db_path)
    assert third.exit_code == 0, third.output
    assert f"FBL2023.tsv: {len(before) + 3} judgements loaded" in third.output
    assert "new version of FBL2023" in third.output and "judgements added: 3" in third.output
    assert "judgements changed: 0" in third.output and "judgements removed: 0" in third.output
    assert len(judgements(db_path)) == 2 * len(before) + 3
    assert query(db_path, "select count(*) from raw.ingest_batches") == [(3,)]


def test_offline_without_files_says_how_to_provide_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KARL_FBL_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    con = warehouse.connect(tmp_path / "offline.duckdb")
    try:
        with pytest.raises(FblSourceError) as raised:
            ingest_fbl(con, None, base_url="http://127.0.0.1:9/fbl_dataset")  # nothing listens on port 9
    finally:
        con.close()
    message = str(raised.value)
    assert "Could not download FBL2023.tsv" in message
    assert "git clone https://github.com/okamoto-lab/fbl_dataset" in message
    assert "--dir" in message and "KARL_FBL_DIR" in message


def test_a_folder_without_the_files_is_a_clear_error(tmp_path: Path, db_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = ingest(tmp_path / "empty", db_path)
    assert result.exit_code == 1
    assert "No FBL2023.tsv or FBL2024.tsv in" in result.output


def test_real_files_every_judgement_lands_or_is_quarantined(fbl_dir: Path, db_path: Path) -> None:
    result = ingest(fbl_dir, db_path)
    assert result.exit_code == 0, result.output
    for dataset, pair_lines in (("FBL2023", 2800), ("FBL2024", 2790)):
        (loaded,) = query(db_path, "select count(*) from raw.labelled_judgements where dataset = ?", [dataset])[0]
        reasons = [row[0] for row in query(db_path, "select reason from raw.quarantine where source_file = ?", [f"{dataset}.tsv"])]
        # whole-line problems withhold 3 judgements, label/annotator problems 1
        withheld = sum(1 if reason.split(":")[0] in {"blank_label", "label_not_in_scheme", "blank_annotator_id"} else 3 for reason in reasons)
        assert loaded + withheld == 3 * pair_lines, (dataset, loaded, withheld)
    assert query(db_path, "select count(*) from raw.labelled_judgements where dataset = 'FBL2024'") == [(8370,)]
    kinds = dict(query(db_path, "select split_part(reason, ':', 1), count(*) from raw.quarantine group by 1"))
    assert set(kinds) <= {"blank_label", "duplicate_row", "reversed_duplicate"}
    assert kinds["blank_label"] > 0


def test_a_line_with_several_problems_is_one_quarantine_row(tmp_path: Path, db_path: Path) -> None:
    rows = good_2023(2) + [Row("T100", "U100", title_a="", title_b="")]
    text = fbl_text(rows).replace("https://shop.example/p/T100/", "not a url")
    result = ingest(write_pair_of_files(tmp_path / "fbl", text_2023=text), db_path)
    assert result.exit_code == 0, result.output
    [(_, line, _, reason)] = quarantine(db_path)
    assert line == 4
    assert reason == (
        "blank_title: ITEM_NAME_1 (title of item A) is blank; blank_title: ITEM_NAME_2 (title of item B) is blank; "
        "bad_url: ITEM_URL_1 'not a url' is malformed"
    )
    assert len(judgements(db_path)) == 6


def test_split_lines_handles_every_line_end() -> None:
    text = "h1\th2\nr1\tx\nr2\ty"
    for newline in ("\n", "\r\n", "\r"):
        for bom in (b"", b"\xef\xbb\xbf"):
            for final in ("", newline):
                lines = split_lines(bom + (text.replace("\n", newline) + final).encode())
                assert [(line.number, line.text) for line in lines] == [(1, "h1\th2"), (2, "r1\tx"), (3, "r2\ty")]
    [line] = split_lines("caf\u00e9".encode()[:-1])
    assert not line.is_utf8 and line.text == "caf\ufffd"


def test_a_file_with_only_a_header_or_nothing(tmp_path: Path, db_path: Path) -> None:
    folder = write_pair_of_files(tmp_path / "fbl", text_2023="\t".join(HEADER) + "\n")
    result = ingest(folder, db_path)
    assert result.exit_code == 0, result.output
    assert "FBL2023.tsv: 0 judgements loaded, 0 quarantine rows" in result.output
    (folder / "FBL2023.tsv").write_bytes(b"")
    result = ingest(folder, db_path)
    assert result.exit_code == 1
    assert "FBL2023.tsv is empty" in result.output
