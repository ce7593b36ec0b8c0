"""`karl --help` lists the commands in the order a newcomer meets them: ingest, build, run, status,
report first, then the others."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from python_jobs.cli import app

FIRST = ["ingest", "build", "run", "status", "report"]
THEN = ["plan", "judge", "experiment", "export", "validate", "stopping-table", "panel-table",
        "serve-fake-llm", "demo"]


def _listed_commands(help_text: str) -> list[str]:
    """The command names in the order --help prints them: the first word of each row of the
    Commands panel (rich draws it in a box; plain click indents by two spaces)."""
    section = help_text.split("Commands", 1)[1]
    return re.findall(r"^(?:[│|] |  )([a-z][a-z-]*)(?:\s|$)", section, flags=re.MULTILINE)


def test_help_lists_the_newcomer_commands_first() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    listed = _listed_commands(result.output)
    assert listed[:len(FIRST)] == FIRST, listed
    # the others keep their order; commands added later may sit among or after them
    assert [name for name in listed if name in THEN] == THEN, listed
    assert set(FIRST + THEN) <= set(listed), listed
