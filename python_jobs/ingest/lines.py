"""A text file's physical lines, read in Python (not a CSV reader) so that quarantine can keep each
bad line's exact text and physical line number: DuckDB skips blank lines and rejects a whole file
over one broken UTF-8 sequence (a download cut mid-character)."""

from __future__ import annotations

from dataclasses import dataclass

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SourceLine:
    number: int  # 1-based physical line
    text: str  # without its line terminator (LF or CRLF)
    is_utf8: bool


def split_lines(data: bytes) -> list[SourceLine]:
    """Physical lines of the file: a leading BOM dropped, LF, CRLF (or CR-only) ends, a last line
    with or without a final newline; bytes that are not UTF-8 are kept (replaced) and flagged."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    # old Mac files end lines with CR only
    chunks = data.split(b"\n") if b"\n" in data or b"\r" not in data else data.split(b"\r")
    if chunks and chunks[-1] == b"":
        chunks.pop()
    lines = []
    for number, chunk in enumerate(chunks, start=1):
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
        try:
            lines.append(SourceLine(number, chunk.decode("utf-8"), True))
        except UnicodeDecodeError:
            lines.append(SourceLine(number, chunk.decode("utf-8", errors="replace"), False))
    return lines
