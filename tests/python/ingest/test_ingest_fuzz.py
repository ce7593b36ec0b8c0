"""Property: whatever bytes, encoding or shape a file has, every ingest command answers with a
message and exit 0 or 1, never a traceback, and leaves no batch half loaded.

One warehouse per command collects every example (so re-ingests and overlaps between examples
are exercised too); `raw_consistency` is checked after each. The budget is EXAMPLES per command
and file kind (6 of them; $KARL_FUZZ_EXAMPLES raises it): an example costs ~0.3 s in-process on an
idle core, so the default 15 (90 cases) runs in ~30-60 s; 30 (180 cases) took 197 s while the
2 cores were shared with other jobs, all passing. The case counts and time are printed at the end.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hostile_fixtures import karl, raw_consistency
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from python_jobs.ingest.fbl import REQUIRED_COLUMNS

EXAMPLES = int(os.environ.get("KARL_FUZZ_EXAMPLES", "15"))
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp932", "utf-32"]

field_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["", " ", '"', '""', "\n", "\r\n", "\x00", "a,b", "a\tb", "1", "substitute", "other", "8", "x" * 200])


@st.composite
def delimited_text(draw: st.DrawFn, header: list[str], delimiter: str) -> str:
    """A header that is mostly the expected one, then rows of arbitrary fields."""
    columns = draw(st.one_of(st.just(header), st.lists(st.sampled_from(header + ["x", ""]), max_size=len(header) + 2)))
    rows = draw(st.lists(st.lists(field_text, min_size=0, max_size=len(header) + 2), max_size=6))
    return "\n".join(delimiter.join(row) for row in [columns, *rows]) + draw(st.sampled_from(["", "\n", "\r\n"]))


@st.composite
def file_bytes(draw: st.DrawFn, header: list[str], delimiter: str) -> bytes:
    """Arbitrary bytes, or shaped text in an arbitrary encoding (unencodable characters replaced)."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=400))
    text = draw(delimited_text(header, delimiter))
    encoding = draw(st.sampled_from(ENCODINGS))
    return text.encode(encoding, errors="replace")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | field_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["data", "annotations", "result", "records", "metadata", "responses", "pair_key",
                         "item_a_id", "item_b_id", "relation_label", "value", "choices", "from_name"]), children, max_size=4),
    max_leaves=12)

arrow_columns = st.sampled_from([
    pa.array(["1", "2", None]), pa.array([1, 2, 3]), pa.array([1.5, None, 2.5]), pa.array([[1], [], None]),
    pa.array([{"a": 1}, None, {"a": 2}]), pa.array([True, False, None]), pa.array(["a\x00b", "", " "]),
    pa.array([b"\xff", b"", None]),
])


@st.composite
def parquet_bytes(draw: st.DrawFn) -> bytes:
    names = draw(st.lists(st.sampled_from(["id", "title", "cat", 'ti"tle', "c'at", "", "id "]), min_size=1, max_size=5, unique=True))
    table = pa.table({name: draw(arrow_columns) for name in names})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    data = sink.getvalue()
    cut = draw(st.sampled_from([None, None, None, len(data) // 2, 4]))
    return data if cut is None else data[:cut]


def _check(db: Path, *args: str | Path) -> None:
    result = karl(*args, "--db", db)
    assert result.exit_code in (0, 1), f"exit {result.exit_code}: {result.output}"
    assert result.output.strip(), "no message"
    assert raw_consistency(db) == []


@pytest.fixture(scope="module")
def fuzz_log() -> dict[str, int]:
    counts: dict[str, int] = {}
    started = time.perf_counter()
    yield counts
    print(f"\nfuzz: {sum(counts.values())} cases {counts} in {time.perf_counter() - started:.1f} s")


def test_fbl_ingest_of_arbitrary_files_answers_with_a_message(tmp_path: Path, fuzz_log: dict[str, int]) -> None:
    db = tmp_path / "fuzz.duckdb"

    @FUZZ_SETTINGS
    @given(first=file_bytes(list(REQUIRED_COLUMNS), "\t"), second=file_bytes(list(REQUIRED_COLUMNS), "\t"))
    def case(first: bytes, second: bytes) -> None:
        folder = tmp_path / f"fbl{fuzz_log.setdefault('fbl', 0)}"
        folder.mkdir()
        (folder / "FBL2023.tsv").write_bytes(first)
        (folder / "FBL2024.tsv").write_bytes(second)
        fuzz_log["fbl"] += 1
        _check(db, "ingest", "fbl", "--dir", folder)

    case()


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_catalog_ingest_of_arbitrary_files_answers_with_a_message(
        tmp_path: Path, fuzz_log: dict[str, int], suffix: str) -> None:
    db = tmp_path / "fuzz.duckdb"
    contents = parquet_bytes() | st.binary(max_size=200) if suffix == ".parquet" else file_bytes(
        ["id", "title", "cat"], "\t" if suffix == ".tsv" else ",")

    @FUZZ_SETTINGS
    @given(data=contents)
    def case(data: bytes) -> None:
        key = f"catalog{suffix}"
        path = tmp_path / f"items{fuzz_log.setdefault(key, 0)}{suffix}"
        path.write_bytes(data)
        fuzz_log[key] += 1
        _check(db, "ingest", "catalog", path, "--id-column", "id", "--title-column", "title",
               "--category-columns", "cat", "--name", "fuzz")

    case()


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_reviews_ingest_of_arbitrary_files_answers_with_a_message(
        tmp_path: Path, fuzz_log: dict[str, int], suffix: str) -> None:
    db = tmp_path / "fuzz.duckdb"
    header = ["pair_key", "item_a_id", "item_b_id", "relation_label", "fbl_label", "reviewer_id"]
    contents = (json_values.map(lambda value: json.dumps(value).encode()) | st.binary(max_size=200)
                if suffix == ".json" else file_bytes(header, ","))

    @FUZZ_SETTINGS
    @given(data=contents)
    def case(data: bytes) -> None:
        key = f"reviews{suffix}"
        path = tmp_path / f"reviews{fuzz_log.setdefault(key, 0)}{suffix}"
        path.write_bytes(data)
        fuzz_log[key] += 1
        _check(db, "ingest", "reviews", path)

    case()
