"""The dbt project as Dagster sees it: where its manifest comes from, the asset keys and groups
of its nodes, and the raw tables (dbt sources) a karl round and `karl predict` write."""

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject

from python_jobs import warehouse

DBT_PROJECT = DbtProject(project_dir=warehouse.PROJECT_DIR, profiles_dir=warehouse.PROJECT_DIR,
                         target_path=Path("target") / "dagster")
# The venv's dbt, not whichever `dbt` is first on PATH (dagster dev may run without the venv active).
_VENV_DBT = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_VENV_DBT) if _VENV_DBT.exists() else "dbt"
_DBT_INPUT_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests")


def _manifest_is_stale(project: DbtProject) -> bool:
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    files = [project.project_dir / "dbt_project.yml", project.project_dir / "profiles.yml"]
    for folder in _DBT_INPUT_FOLDERS:
        files += [p for p in (project.project_dir / folder).rglob("*") if p.suffix in (".sql", ".yml", ".csv")]
    return any(p.stat().st_mtime > built for p in files if p.exists())


def prepared_manifest(project: DbtProject = DBT_PROJECT) -> Path:
    """manifest.json for @dbt_assets: `dbt parse` at load time when missing or older than the
    project. The parse writes into a folder of its own and the manifest moves into place in one
    rename, so processes loading the definitions at once (a code server and the dagster CLI, two
    test workers) never read a half-written manifest."""
    if _manifest_is_stale(project):
        manifest_path = Path(project.manifest_path)
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=manifest_path.parent, prefix=".parse-") as scratch:
            DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE).cli(
                ["parse", "--quiet"], target_path=Path(scratch)).wait()
            os.replace(Path(scratch) / "manifest.json", manifest_path)
    return project.manifest_path


# Raw tables a karl round writes (dbt sources): the graph's edges from the round into staging.
ROUND_SOURCES: dict[str, tuple[str, ...]] = {
    "karl": ("runs", "run_steps", "run_artifacts", "selections", "llm_calls", "llm_call_intents",
             "bag_members", "round_metrics", "pool_predictions", "item_vectors", "item_categories"),
    "karl_features": ("item_sparse_vectors",),
    "karl_llm": ("llm_batches",),
    "karl_prediction": ("model_versions", "model_training_labels"),
}
PREDICT_SOURCES: dict[str, tuple[str, ...]] = {"karl_prediction": ("pair_predictions",)}


def downstream_of(sources: dict[str, tuple[str, ...]]) -> str:
    return " ".join(f"source:{name}.{table}+" for name, tables in sources.items() for table in tables)


class KarlDbtTranslator(DagsterDbtTranslator):
    """dbt's own keys (a source: [source, table]; a model: [schema, name]), grouped by layer."""

    def get_group_name(self, dbt_resource_props: dict[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn") or []
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 1:
            return str(fqn[1])  # staging | intermediate | marts
        return str(dbt_resource_props.get("resource_type", "dbt"))


TRANSLATOR = KarlDbtTranslator()


def source_key(source: str, table: str) -> AssetKey:
    return AssetKey([source, table])


