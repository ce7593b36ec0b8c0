"""Names from files reach SQL only through these: a column called `ti"tle` or `c'at` is data,
never SQL text."""

from __future__ import annotations

from collections.abc import Sequence


def quote_identifier(name: str) -> str:
    """`name` as a DuckDB identifier: in double quotes, inner double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'



def relation_sql(relation: str, columns: Sequence[str] | None = None) -> str:
    """`select <columns> from <relation>`: the same text on DuckDB and Spark SQL."""
    parts = relation.split(".")
    if not parts or not all(part.isidentifier() for part in parts):
        raise ValueError(f"{relation!r} is not a relation name (schema.name)")
    listed = ", ".join(columns) if columns else "*"
    return f"select {listed} from {relation}"
