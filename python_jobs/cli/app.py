"""The `karl` application: the root options, the one error boundary, the output mode and the
choices the commands share. The commands live beside it (cli/ingest.py, loop.py, annotation.py,
reporting.py), each parsing its options and calling one job."""

from __future__ import annotations

import os
from contextvars import ContextVar
from enum import Enum
from importlib.metadata import version as package_version
from typing import Optional

import click
import typer
from typer.core import TyperGroup

from python_jobs.cli.output import LogFormat, Output
from python_jobs.config import (
    AGGREGATIONS,
    ANNOTATORS,
    CANDIDATE_SOURCES,
    ENGINES,
    MODEL_FAMILIES,
    QBC_MEASURES,
    STOP_RULES,
    STRATEGIES,
    EngineSettings,
    RunConfig,
    engine_settings_from_env,
)
from python_jobs.errors import UsageError
from python_jobs.reporting.export import FORMATS as EXPORT_FORMATS

RUN_DEFAULTS = RunConfig(run_id="defaults")


# How this invocation speaks (--quiet, --log-format): set once by the root options. A context
# variable, not a module global: CliRunner invocations in one test process do not leak into each other.
_OUTPUT: ContextVar[Output | None] = ContextVar("karl_output", default=None)


def _out() -> Output:
    return _OUTPUT.get() or Output()


# `karl --help` lists the commands in the order a newcomer meets them; any command not named here
# follows in registration order.
HELP_ORDER = ("ingest", "build", "run", "status", "report", "predict", "plan", "judge", "experiment", "export",
              "validate", "stopping-table", "panel-table", "serve-fake-llm", "demo")


# How click and typer end a command on purpose (an exit code, a usage error, Abort): not failures.
# typer vendors its own click, whose exceptions are other classes than click's.
_CLI_FLOW: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, click.exceptions.Exit, click.ClickException,
                                              click.Abort)
try:
    from typer._click.exceptions import ClickException as _TyperClickException

    _CLI_FLOW += (_TyperClickException,)
except ImportError:  # a typer that uses click itself
    pass


class KarlGroup(TyperGroup):
    """The one error boundary: every failure ends in one line and an exit code (cli/errors.py);
    `--debug` shows the traceback instead. SIGTERM is handled as Ctrl-C while a command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: index for index, name in enumerate(HELP_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(HELP_ORDER)))

    def invoke(self, ctx: click.Context) -> object:
        from python_jobs.cli.errors import verdict
        from python_jobs.faults import activity
        from python_jobs.faults.signals import install_sigterm_handler

        doing = activity.start(_command_name(ctx))
        restore = install_sigterm_handler()
        try:
            return super().invoke(ctx)
        except _CLI_FLOW:
            raise
        except (Exception, KeyboardInterrupt) as error:
            if (ctx.obj or {}).get("debug"):
                raise
            found = verdict(error, doing)
            _out().error(found.line, event=found.event, error=type(error).__name__, exit_code=found.exit_code)
            raise typer.Exit(found.exit_code) from None
        finally:
            restore()


def _command_name(ctx: click.Context) -> str:
    """`karl run`, `karl ingest fbl`: the words naming the command (read before click consumes them)."""
    words = [*getattr(ctx, "_protected_args", []), *ctx.args]
    names = [word for word in words[:2] if not word.startswith("-")]
    if names and names[0] not in {"ingest", "export"}:
        names = names[:1]
    return " ".join(["karl", *names])


app = typer.Typer(cls=KarlGroup, help="karl: grow trustworthy product-relationship labels in your warehouse.",
                  no_args_is_help=True)
ingest_app = typer.Typer(help="Load data into the raw schema (validated, quarantined, idempotent).", no_args_is_help=True)
export_app = typer.Typer(help="Export warehouse data for other tools.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(export_app, name="export")

DbOption = typer.Option(None, "--db", help="DuckDB file (default: $KARL_DUCKDB_PATH or warehouse/karl.duckdb).")


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """An Enum of fixed choices, so --help lists them and shells complete them."""
    return Enum(name, {value: value for value in values}, type=str)


Strategy = _choices("Strategy", STRATEGIES)
Annotator = _choices("Annotator", ANNOTATORS)
CandidateSource = _choices("CandidateSource", CANDIDATE_SOURCES)
QbcMeasure = _choices("QbcMeasure", QBC_MEASURES)
Aggregation = _choices("Aggregation", AGGREGATIONS)
StopRule = _choices("StopRule", STOP_RULES)
ExportFormat = _choices("ExportFormat", EXPORT_FORMATS)
ModelFamily = _choices("ModelFamily", MODEL_FAMILIES)
Engine = _choices("Engine", ENGINES)


def _version(value: bool) -> None:
    if value:
        Output().console.print(f"karl {package_version('karl')}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of a known error instead of its message."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print karl's version."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and results: no progress bars or lines."),
    log_format: LogFormat = typer.Option(LogFormat.text, "--log-format",
                                         help="text for people; json: one JSON object per line on stderr "
                                              "(ts, level, event, message, fields), results as JSON on stdout."),
    engine: Optional[Engine] = typer.Option(None, "--engine",
                                            help="Warehouse engine: duckdb (the default) or spark (the spark extra: "
                                                 "pyspark, dbt-spark); default $KARL_ENGINE."),
) -> None:
    ctx.obj = {"debug": debug}
    _OUTPUT.set(Output(quiet=quiet, log_format=log_format))
    try:
        ctx.obj["engine"] = engine_settings_from_env(os.environ, {"engine": engine.value if engine else None})
    except ValueError as error:
        raise UsageError(f"{error} (from --engine or KARL_ENGINE)") from None


def engine_settings(ctx: typer.Context) -> EngineSettings:
    """The engine this invocation uses (`karl --engine`, else $KARL_ENGINE, else duckdb)."""
    root = ctx.find_root()
    return (root.obj or {}).get("engine") or engine_settings_from_env(os.environ)
