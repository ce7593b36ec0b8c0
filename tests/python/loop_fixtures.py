"""Shared by the loop tests: one run through the orchestrator on a warehouse file."""

from __future__ import annotations

from pathlib import Path

from python_jobs import warehouse
from python_jobs.annotation.factory import make_annotator
from python_jobs.config import RunConfig
from python_jobs.loop.runner import Orchestrator


def run_quietly(db: Path, config: RunConfig) -> None:
    """Run (or resume) `config` on the warehouse at `db`, no progress output."""
    con = warehouse.connect(db)
    try:
        Orchestrator(con, config, annotator_factory=lambda o: make_annotator(o.con, o.config),
                     show_progress=False, log=lambda _: None).run()
    finally:
        con.close()
