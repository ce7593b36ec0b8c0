"""The parsed dbt project run_dbt hands to dbt (a run's repeated builds, and the commands of
dbt_runner.PARSE_REUSING_COMMANDS), kept in memory and on disk.

In memory: one parse per process while the project files, the environment they read, the vars,
the target and the database name are unchanged. On disk: each set of vars and target parses into
a folder of its own under $KARL_DBT_PARSE_PATH (default <target path>/parses/), with the
warehouse path pinned to a stand-in of the same file name, so dbt's own partial parsing finds its
state there again in the next process (a new `karl run`, another warehouse copy) and re-reads only
what changed: ~0.3 s instead of a full parse's ~5 CPU-seconds. dbt checks what its partial parse
depends on (file hashes, vars, profile, env vars) and parses in full when any of it changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from python_jobs.warehouse.connection import PROJECT_DIR

# Parse folders kept in the parses folder: one per set of vars and target, the newest ones.
KEPT_PARSES = 16

_MANIFESTS: dict[tuple, object] = {}

# Files dbt reads in the project's folders; tests/ also holds the pytest suite, whose files
# (and __pycache__) dbt ignores and must not invalidate a parse.
_DBT_FILE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".md", ".py"}
_ENV_VAR_NAME = re.compile(r"env_var\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]")


def parsed_manifest(options: list[str], target_dir: Path | str | None,
                    db_path: Path) -> tuple[object | None, BaseException | None]:
    """(the parsed project for these dbt options (project, target, vars; no --target-path or
    --log-path) and database name, None) or, when dbt cannot parse it, (None, dbt's exception).
    The parse itself prints nothing."""
    from dbt.cli.main import dbtRunner

    key = (tuple(options), db_path.name, _project_fingerprint())
    if key not in _MANIFESTS:
        parses = os.environ.get("KARL_DBT_PARSE_PATH") or Path(target_dir or PROJECT_DIR / "target") / "parses"
        parse_dir = _parse_dir(Path(parses), options, db_path.name)
        real_path = os.environ.get("KARL_DUCKDB_PATH")
        # dbt's partial parse starts over when the profile changes, and the profile holds the
        # warehouse's path; the parse reads only its name (the database dbt-duckdb names after it).
        os.environ["KARL_DUCKDB_PATH"] = str(parse_dir / db_path.name)
        try:
            result = dbtRunner().invoke(["--quiet", "--no-use-colors", "parse", "--no-write-json", *options,
                                         "--target-path", str(parse_dir), "--log-path", str(parse_dir / "logs")])
        finally:
            if real_path is None:
                os.environ.pop("KARL_DUCKDB_PATH", None)
            else:
                os.environ["KARL_DUCKDB_PATH"] = real_path
        if not result.success or result.result is None:
            return None, result.exception
        _MANIFESTS.clear()
        _MANIFESTS[key] = result.result
    return _MANIFESTS[key], None


def _parse_dir(parses: Path, options: list[str], file_name: str) -> Path:
    """<parses>/<digest of the options and file name>, touched as the newest; the oldest folders
    beyond KEPT_PARSES are removed."""
    digest = hashlib.sha1(json.dumps([options, file_name]).encode()).hexdigest()[:16]
    folder = parses / digest
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)
        folders = sorted((f for f in parses.iterdir() if f.is_dir()), key=lambda f: f.stat().st_mtime_ns,
                         reverse=True)
    except OSError:
        return folder  # dbt's parse meets the same fault and reports it (a full disk, no permission)
    for stale in folders[KEPT_PARSES:]:
        shutil.rmtree(stale, ignore_errors=True)
    return folder


def _project_files() -> list[Path]:
    files = [PROJECT_DIR / "dbt_project.yml", PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests", "seeds", "snapshots"):
        files += sorted(f for f in (PROJECT_DIR / folder).rglob("*")
                        if f.suffix in _DBT_FILE_SUFFIXES and "__pycache__" not in f.parts
                        and not (folder == "tests" and "python" in f.relative_to(PROJECT_DIR / folder).parts[:1]))
    return [f for f in files if f.is_file()]


def _project_fingerprint() -> tuple:
    """Names, sizes and mtimes of the files dbt parses, and the values of the environment
    variables they read (dbt renders env_var() into the parsed configs): either changing means
    a new parse."""
    files = _project_files()
    # profiles.yml's variables are connection settings (the file's path, tokens), not parse
    # inputs, except which output is the target; the database name is in the key on its own.
    names = sorted({"KARL_DBT_TARGET"} | {name for f in files if f.name != "profiles.yml"
                                          for name in _ENV_VAR_NAME.findall(f.read_text(errors="ignore"))})
    return (tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files),
            tuple((name, os.environ.get(name)) for name in names))
