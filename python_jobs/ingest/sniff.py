"""What a file is, from its bytes, before any parser sees it.

A file's name says what it should be; its first bytes say what it is. A Parquet file named
`.csv`, a spreadsheet named `.csv`, random bytes named `.parquet`: each used to reach a parser
that raised. `sniff` names the kind (parquet, text, or a binary it cannot read) so the ingest
either reads it with the right parser or rejects the file with one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

PARQUET_MAGIC = b"PAR1"
UTF8_BOM = b"\xef\xbb\xbf"
# Magic numbers of binaries people save under a text name by mistake.
BINARY_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx or .zip?)"),
    (b"\x1f\x8b", "gzip-compressed"),
    (b"BZh", "bzip2-compressed"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls?)"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
TEXT_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"),
)
SAMPLE_BYTES = 8192
# Share of the sample that may be NUL, other control bytes or broken UTF-8 before the file is
# called binary: text with a stray NUL or a mis-encoded line stays text (those lines are
# quarantined one by one); random bytes score ~0.6, a Latin-1 CSV of Japanese titles ~0.3 at most.
BINARY_SHARE = 0.3


@dataclass(frozen=True)
class FileKind:
    kind: str  # parquet | text | binary
    detail: str = ""  # binary: what it looks like; text: the encoding of a BOM other than UTF-8


def _binary_share(sample: bytes) -> float:
    if not sample:
        return 0.0
    controls = sum(1 for byte in sample if byte < 0x20 and byte not in (0x09, 0x0A, 0x0C, 0x0D) or byte == 0x7F)
    broken = sample.decode("utf-8", errors="replace").count("\ufffd")
    return (controls + broken) / len(sample)


def sniff(data: bytes) -> FileKind:
    """The kind of `data`: Parquet (magic at both ends), text, or a binary named in words."""
    if data.startswith(PARQUET_MAGIC):
        return FileKind("parquet")
    for magic, what in BINARY_MAGICS:
        if data.startswith(magic):
            return FileKind("binary", what)
    for bom, encoding in TEXT_BOMS:
        if data.startswith(bom):
            return FileKind("text", encoding)
    sample = data[:SAMPLE_BYTES]
    # A cut sample may end mid-character: do not count that as broken.
    trimmed = sample[:-3] if len(data) > SAMPLE_BYTES else sample
    if _binary_share(trimmed) > BINARY_SHARE:
        return FileKind("binary", "binary data, not text")
    return FileKind("text")


def parquet_problem(data: bytes) -> str | None:
    """Why `data` is not a readable Parquet file, or None when its magic is in place."""
    if len(data) < 12 or not data.startswith(PARQUET_MAGIC) or not data.endswith(PARQUET_MAGIC):
        return "not a Parquet file (no PAR1 magic at both ends: truncated, or another format)"
    return None


def as_utf8(data: bytes, kind: FileKind) -> bytes:
    """Text with a UTF-16/32 byte-order mark re-encoded as UTF-8 (the readers read UTF-8)."""
    if kind.kind == "text" and kind.detail:
        return data.decode(kind.detail, errors="replace").encode("utf-8")
    return data
