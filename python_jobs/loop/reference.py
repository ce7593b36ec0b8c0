"""Known labels of candidate pairs: the simulated annotator's truth and the reference that
selections record (replay and simulated runs)."""

from __future__ import annotations

import duckdb

from python_jobs.candidates import basket_labels
from python_jobs.config import RunConfig
from python_jobs.loop import data


def reference_labels_for(con: duckdb.DuckDBPyConnection, config: RunConfig) -> dict[str, str]:
    """Human majority labels (the FBL pool), or on a catalogue with baskets the behaviour-based
    labels (co-purchase lift) of the sampled candidates."""
    labels = data.reference_labels(con)
    if config.candidate_source == "sampler":
        # --catalog: that catalogue's baskets, when it has any
        catalog = con.execute("select catalog from raw.basket_lines where ? is null or catalog = ? limit 1",
                              [config.catalog, config.catalog]).fetchone()
        if catalog:
            labels |= basket_labels.reference_labels(
                con, "select pair_key, item_a_id, item_b_id from marts.fct_candidate_pairs", catalog[0])
    return labels
