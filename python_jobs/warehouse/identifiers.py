"""Names from files reach SQL only through these: a column called `ti"tle` or `c'at` is data,
never SQL text."""

from __future__ import annotations


def quote_identifier(name: str) -> str:
    """`name` as a DuckDB identifier: in double quotes, inner double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'

