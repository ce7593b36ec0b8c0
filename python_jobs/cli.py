"""The `karl` command line. Each command is a thin shell around one job module."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from python_jobs import warehouse

app = typer.Typer(help="karl: grow trustworthy product-relationship labels in your warehouse.", no_args_is_help=True)
ingest_app = typer.Typer(help="Load data into the raw schema (validated, quarantined, idempotent).", no_args_is_help=True)
export_app = typer.Typer(help="Export warehouse data for other tools.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(export_app, name="export")
console = Console()

DbOption = typer.Option(None, "--db", help="DuckDB file (default: $KARL_DUCKDB_PATH or warehouse/karl.duckdb).")


@app.command()
def build(db: Optional[Path] = DbOption, select: Optional[str] = typer.Option(None, help="dbt node selection.")) -> None:
    """Run `dbt build` (seeds, models, snapshots, data and unit tests) in-process."""
    args = ["build"] + (["--select", select] if select else [])
    con = warehouse.connect(db)
    try:
        result = warehouse.run_dbt(args, db_path=db, raise_on_failure=False, quiet=False)
    finally:
        con.close()
    if not result.success:
        console.print("[red]dbt build failed:[/red]\n  " + "\n  ".join(result.failures))
        raise typer.Exit(1)
    console.print(f"dbt build finished in {result.seconds:.1f} s")


# --- ingest commands -------------------------------------------------------------------------

# --- loop commands ---------------------------------------------------------------------------

# --- annotator commands ----------------------------------------------------------------------

# --- reporting commands ----------------------------------------------------------------------

# --- experiment and scale commands -----------------------------------------------------------


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
