"""Faults that end a command at once: each case is one line on the terminal, no traceback, its
exit code. Real `karl` processes on real warehouse files (copies), except the boundary's own
contract (an unexpected error, Ctrl-C), tested through the app in-process on a command that raises."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from python_jobs.cli.app import KarlGroup
from python_jobs.faults.sentences import EXIT_INTERRUPTED, EXIT_OS_FAULT, EXIT_UNEXPECTED

from fault_tools import assert_one_line, copy_into, karl

UNBUILT_READERS = [
    ["judge"],
    ["report", "--out", "report_folder"],
    ["export", "review-queue", "--out", "queue.csv"],
    ["panel-table"],
]


@pytest.mark.parametrize("command", UNBUILT_READERS, ids=lambda c: c[0])
def test_a_reader_on_an_ingested_but_unbuilt_warehouse_names_the_build(
        command: list[str], ingested_template: Path, tmp_path: Path) -> None:
    db = copy_into(ingested_template, tmp_path)
    ran = karl(tmp_path, *command, "--db", db)
    assert_one_line(ran, 1, "no marts.", "run `karl build` first")


@pytest.mark.parametrize("command", UNBUILT_READERS, ids=lambda c: c[0])
def test_a_reader_on_a_warehouse_never_loaded_names_the_ingest_and_the_build(
        command: list[str], tmp_path: Path) -> None:
    ran = karl(tmp_path, *command, "--db", tmp_path / "fresh.duckdb")
    line = assert_one_line(ran, 1, "`karl ingest fbl`", "`karl build`")
    assert "holds no data yet" in line or "there is no warehouse at" in line


def test_status_on_unbuilt_warehouses_says_what_to_run(ingested_template: Path, tmp_path: Path) -> None:
    ingested = copy_into(ingested_template, tmp_path)
    ran = karl(tmp_path, "status", "--db", ingested)
    assert "Traceback" not in ran.output and ran.returncode == 0
    assert "run `karl build` first" in ran.stdout
    ran = karl(tmp_path, "status", "--db", tmp_path / "fresh.duckdb")
    assert "Traceback" not in ran.output and ran.returncode == 0
    assert "`karl ingest fbl`" in ran.stdout and "`karl build`" in ran.stdout


@pytest.mark.parametrize("command", [["status"], ["ingest", "fbl"], ["build"], ["run", "--rounds", "1"]],
                         ids=lambda c: c[0])
def test_a_text_file_as_warehouse_is_named_as_not_a_warehouse(command: list[str], tmp_path: Path) -> None:
    db = tmp_path / "notes.duckdb"
    db.write_text("these are my notes, not a warehouse\n")
    ran = karl(tmp_path, *command, "--db", db)
    assert_one_line(ran, EXIT_OS_FAULT, f"{db} is not a DuckDB warehouse", "traceback in")
    assert db.read_text() == "these are my notes, not a warehouse\n"


def test_a_directory_named_fbl2024_tsv_is_named_and_nothing_half_loaded(fbl_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "fbl"
    folder.mkdir()
    shutil.copyfile(fbl_dir / "FBL2023.tsv", folder / "FBL2023.tsv")
    (folder / "FBL2024.tsv").mkdir()
    db = tmp_path / "karl.duckdb"
    ran = karl(tmp_path, "ingest", "fbl", "--dir", folder, "--db", db)
    assert_one_line(ran, EXIT_OS_FAULT, "karl ingest fbl", "FBL2024.tsv is a directory")
    log = db.with_name(db.name + ".logs") / "karl-errors.log"
    assert "IsADirectoryError" in log.read_text()


# --- titles blank after Unicode normalisation --------------------------------------------------
INVISIBLE_TITLES = {
    "zero-width spaces": "\u200b\u200b\u200b",
    "zwnj zwj word joiner bom": "\u200c\u200d\u2060\ufeff",
    "control characters": "\x07\x1b",
    "whitespace only": " \u3000 ",
}


def _quarantine(db: Path) -> list[tuple[int, str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("select source_line, raw_line, reason from raw.quarantine order by source_line").fetchall()
    finally:
        con.close()


def test_catalogue_titles_blank_after_normalisation_are_quarantined_with_their_line(tmp_path: Path) -> None:
    lines = ["id,title,category", "1,Blue pen,stationery"]
    lines += [f"{n},{title},stationery" for n, title in enumerate(INVISIBLE_TITLES.values(), start=2)]
    catalogue = tmp_path / "shop.csv"
    catalogue.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "karl.duckdb"
    ran = karl(tmp_path, "ingest", "catalog", catalogue, "--id-column", "id", "--title-column", "title",
               "--category-columns", "category", "--db", db)
    assert ran.returncode == 0 and "Traceback" not in ran.output, ran.output
    quarantined = _quarantine(db)
    assert [line for line, _, _ in quarantined] == [3, 4, 5, 6]
    assert all(text.startswith("blank_title:") for _, _, text in quarantined)
    assert "U+200B" in quarantined[0][2]
    assert quarantined[0][1] == lines[2]
    con = duckdb.connect(str(db), read_only=True)
    assert [title for (title,) in con.execute("select title from raw.catalog_items").fetchall()] == ["Blue pen"]
    con.close()


def test_fbl_titles_blank_after_normalisation_are_quarantined_with_their_line(fbl_dir: Path, tmp_path: Path) -> None:
    source = (fbl_dir / "FBL2024.tsv").read_text(encoding="utf-8").splitlines()
    header, body = source[0], source[1:6]
    fields = body[1].split("\t")
    fields[1] = "\u200b\u200d"  # ITEM_NAME_1 of line 3
    body[1] = "\t".join(fields)
    folder = tmp_path / "fbl"
    folder.mkdir()
    (folder / "FBL2024.tsv").write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    db = tmp_path / "karl.duckdb"
    ran = karl(tmp_path, "ingest", "fbl", "--dir", folder, "--db", db)
    assert "Traceback" not in ran.output, ran.output
    [(line, raw_line, text)] = [row for row in _quarantine(db) if row[2].startswith("blank_title")]
    assert line == 3 and raw_line == body[1]
    assert "ITEM_NAME_1" in text and "U+200B" in text


# --- the boundary itself -----------------------------------------------------------------------
def _app_raising(error: BaseException) -> typer.Typer:
    app = typer.Typer(cls=KarlGroup)

    @app.callback()
    def root(ctx: typer.Context, debug: bool = typer.Option(False, "--debug")) -> None:
        ctx.obj = {"debug": debug}

    @app.command()
    def boom(db: Path = typer.Option(...)) -> None:
        from python_jobs.faults import activity

        activity.note_warehouse(db)
        raise error

    return app


def test_an_unexpected_error_is_one_line_with_the_log_and_its_own_exit_code(tmp_path: Path) -> None:
    db = tmp_path / "karl.duckdb"
    result = CliRunner().invoke(_app_raising(ValueError("the widget\nis bent")), ["boom", "--db", str(db)])
    assert result.exit_code == EXIT_UNEXPECTED
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "karl boom failed unexpectedly: ValueError: the widget is bent" in line
    log = db.with_name("karl.duckdb.logs") / "karl-errors.log"
    assert str(log) in line
    assert "Traceback" in log.read_text() and "the widget" in log.read_text()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app_raising(ValueError("bent")),
                                ["--debug", "boom", "--db", str(tmp_path / "w.duckdb")])
    assert isinstance(result.exception, ValueError)


def test_the_log_falls_back_to_the_temp_dir_when_the_warehouse_folder_takes_no_file(tmp_path: Path) -> None:
    blocked = tmp_path / "a_file"
    blocked.write_text("not a folder")
    result = CliRunner().invoke(_app_raising(ValueError("bent")), ["boom", "--db", str(blocked / "karl.duckdb")])
    assert result.exit_code == EXIT_UNEXPECTED
    assert "karl-logs" in result.output


def test_ctrl_c_is_one_line_and_exit_130(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app_raising(KeyboardInterrupt()), ["boom", "--db", str(tmp_path / "w.duckdb")])
    assert result.exit_code == EXIT_INTERRUPTED
    assert result.output.strip() == "karl boom interrupted: nothing half-written was kept; run `karl boom` again"


def test_stale_temporaries_of_dead_processes_are_removed_at_start(tmp_path: Path) -> None:
    import os
    import subprocess

    from python_jobs.faults.tempfiles import remove_stale_temporaries

    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now names no process
    runs = tmp_path / "karl.duckdb.runs"
    runs.mkdir()
    stale = [runs / f"r1.json.{dead.pid}.tmp", runs / f"latest_marts.{dead.pid}.tmp.duckdb"]
    alive = runs / f"r2.json.{os.getppid()}.tmp"
    kept = runs / "r1.json"
    for path in [*stale, alive, kept]:
        path.write_text("x")
    assert sorted(remove_stale_temporaries(runs)) == sorted(stale)
    assert alive.exists() and kept.exists()


def test_a_warehouse_on_a_read_only_file_system_is_named_read_only(ingested_template: Path, tmp_path: Path) -> None:
    import subprocess

    disk = tmp_path / "ro"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs (needs root) to make a read-only file system")
    try:
        db = copy_into(ingested_template, disk)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        ran = karl(tmp_path, "build", "--db", db)
        assert_one_line(ran, EXIT_OS_FAULT, f"karl build stopped: {db} is read-only",
                        "run `karl build` again", "karl-logs")  # the log falls back to the temp dir
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
