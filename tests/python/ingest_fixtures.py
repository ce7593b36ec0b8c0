"""Synthetic FBL-format files for the ingest tests (made-up shop, titles and annotators)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from python_jobs.ingest.fbl import REQUIRED_COLUMNS

HEADER = list(REQUIRED_COLUMNS)


def url(code: str) -> str:
    return f"https://shop.example/p/{code}/"


@dataclass(frozen=True)
class Row:
    a: str
    b: str
    labels: tuple[str, str, str] = ("8", "8", "9")
    annotators: tuple[str, str, str] = ("a1", "a2", "a3")
    title_a: str | None = None
    title_b: str | None = None

    def fields(self) -> list[str]:
        fields = [url(self.a), self.title_a if self.title_a is not None else f"Test item {self.a}",
                  url(self.b), self.title_b if self.title_b is not None else f"Test item {self.b}"]
        for annotator, label in zip(self.annotators, self.labels):
            fields += [annotator, label]
        return fields


def fbl_text(rows: list[Row], header: list[str] | None = None) -> str:
    lines = ["\t".join(header or HEADER)] + ["\t".join(row.fields()) for row in rows]
    return "\n".join(lines) + "\n"


def write_fbl(folder: Path, name: str, text: str, newline: str = "\n", bom: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = text.replace("\n", newline).encode("utf-8")
    path = folder / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def good_2023(n: int = 4) -> list[Row]:
    return [Row(f"T{i:03d}", f"U{i:03d}", labels=("1", "1", "2")) for i in range(n)]


def good_2024(n: int = 3) -> list[Row]:
    return [Row(f"V{i:03d}", f"W{i:03d}", labels=("1", "2", "1")) for i in range(n)]


def write_pair_of_files(folder: Path, rows_2023: list[Row] | None = None, text_2023: str | None = None) -> Path:
    """FBL2023.tsv (the file under test) and a small clean FBL2024.tsv next to it."""
    write_fbl(folder, "FBL2023.tsv", text_2023 if text_2023 is not None else fbl_text(rows_2023 or good_2023()))
    write_fbl(folder, "FBL2024.tsv", fbl_text(good_2024()))
    return folder


def query(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
