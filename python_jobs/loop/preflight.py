"""Checks `karl run` makes before round 0, so a run that cannot work is refused with a reason
instead of spending rounds that cannot produce a label.

- A run id that already names a run is refused without `--resume`: the old run would have
  grown by a round under the new flags, and its records would disagree with its settings.
- The annotator must be able to label the candidate source: the simulated annotator's truth is
  the FBL majority labels (fbl_pool) or the co-purchase labels of a catalogue with baskets
  (sampler); without them every call was invalid (`no_reference_label`), 0 labels a round, and
  `karl status` called the run "still gaining". The replay annotator needs the recorded FBL
  judgements; the openai annotator a key (or a local server).
- A cold start (`--cold-start N`) asks about a catalogue's candidate pairs: replay cannot, and is
  refused; `--catalog NAME` must name an ingested catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from python_jobs.annotation.factory import openai_annotator
from python_jobs.config import RunConfig
from python_jobs.errors import KarlError
from python_jobs.loop.steps import RunStopped
from python_jobs.warehouse.live_rows import LIVE_LABELLED_JUDGEMENTS

LIVE = "batch_id not in (select batch_id from raw.ingest_retractions)"


class RunExistsError(KarlError):
    """A new run was given the id of a run the warehouse already holds."""


class AnnotatorCannotLabelError(RunStopped):
    """The chosen annotator cannot label the chosen candidate source in this warehouse (the run
    stops before round 0, so callers that handle RunStopped handle this too)."""


def refuse_existing_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    row = con.execute("""
        select runs.rounds, max(steps.round_index) filter (where steps.step = 'evaluate')
        from raw.runs as runs left join raw.run_steps as steps on steps.run_id = runs.run_id
        where runs.run_id = ? group by runs.rounds
    """, [run_id]).fetchone()
    if row is None:
        return
    rounds, last_evaluated = row
    state = ("finished" if last_evaluated is not None and last_evaluated >= rounds
             else "unfinished" if last_evaluated is None else f"evaluated up to round {last_evaluated} of {rounds}")
    raise RunExistsError(
        f"run {run_id} already exists ({state}): `karl run --resume {run_id}` continues it under its own "
        "settings; give a new --run-id (or none) for a new run.")


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchone()[0])


class UnknownCatalogError(RunStopped):
    """--catalog names no catalogue this warehouse holds."""


def check_catalog(con: duckdb.DuckDBPyConnection, config: RunConfig) -> None:
    """--catalog NAME must name an ingested (and not undone) catalogue."""
    if not config.catalog:
        return
    names = [row[0] for row in con.execute(
        f"select distinct catalog from raw.catalog_items where {LIVE} order by catalog").fetchall()]
    if config.catalog not in names:
        held = f"it holds {', '.join(names)}" if names else "it holds none"
        raise UnknownCatalogError(
            f"--catalog {config.catalog}: this warehouse has no catalogue of that name ({held}); ingest it with "
            "`karl ingest catalog FILE --id-column ... --title-column ... --category-columns ...`.")


def check_cold_start(config: RunConfig) -> None:
    """A cold start asks about catalogue pairs: the replay annotator knows only the pairs of the
    human-labelled datasets (FBL), so it cannot answer them."""
    if config.cold_start > 0 and config.annotator == "replay" and config.candidate_source == "sampler":
        raise AnnotatorCannotLabelError(
            f"--cold-start {config.cold_start} with the replay annotator: replay only knows the pairs of the "
            "human-labelled datasets, not a catalogue's candidates; use --annotator openai (or simulated on a "
            "catalogue with baskets).")


def check_annotator(con: duckdb.DuckDBPyConnection, config: RunConfig, env: Mapping[str, str] | None = None) -> None:
    """Raise AnnotatorCannotLabelError when `config.annotator` cannot label `config.candidate_source`
    (or a cold start's catalogue pairs), UnknownCatalogError for a --catalog not ingested."""
    check_catalog(con, config)
    check_cold_start(config)
    source = config.candidate_source
    fbl_pairs = _count(con, f"select count(*) from {LIVE_LABELLED_JUDGEMENTS} as j")
    if config.annotator == "simulated":
        if source == "fbl_pool" and not fbl_pairs:
            raise AnnotatorCannotLabelError(
                "the simulated annotator has no reference labels for --candidate-source fbl_pool: the warehouse "
                "holds no FBL judgements (run `karl ingest fbl`, then `karl build`).")
        of_catalog = f" and catalog = '{config.catalog.replace(chr(39), chr(39) * 2)}'" if config.catalog else ""
        if source == "sampler" and not _count(con, f"select count(*) from raw.basket_lines where {LIVE}{of_catalog}"):
            raise AnnotatorCannotLabelError(
                "the simulated annotator has no reference labels for --candidate-source sampler: its truth there "
                "is the co-purchase labels of a catalogue with baskets, and "
                + (f"catalogue {config.catalog} has no basket lines " if config.catalog
                   else "this warehouse has no basket lines ") +
                "(ingest a catalogue with baskets, e.g. `karl ingest completejourney`; or use "
                "--candidate-source fbl_pool, or --annotator openai).")
    elif config.annotator == "replay" and not fbl_pairs:
        raise AnnotatorCannotLabelError(
            "the replay annotator has no recorded judgements to replay: the warehouse holds no FBL judgements "
            "(run `karl ingest fbl`, then `karl build`).")
    elif config.annotator == "openai":
        try:
            openai_annotator(con, {"max_cost_usd": config.max_cost_usd}, env=env, example_datasets=config.train_labels)
        except (KarlError, ValueError) as error:
            raise AnnotatorCannotLabelError(f"the openai annotator cannot start: {error}") from error
