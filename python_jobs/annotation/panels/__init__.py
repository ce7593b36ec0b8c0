"""Heterogeneous annotator panels (issue 12, the paper's Q3): error profiles and seeded votes
(`profiles`), the offline aggregation rules (`aggregation`), and the panel annotator of
`karl run --annotator panel` (`annotator`)."""

from python_jobs.annotation.panels.aggregation import (
    AGGREGATIONS,
    aggregate,
    dawid_skene,
    dawid_skene_posteriors,
    majority,
    unanimity,
    yield_and_precision,
)
from python_jobs.annotation.panels.annotator import PanelAnnotator
from python_jobs.annotation.panels.profiles import (
    CLASSES,
    DEFAULT_PANEL,
    PROFILES,
    ErrorProfile,
    panel_vote,
    panel_votes,
)

__all__ = [
    "AGGREGATIONS", "CLASSES", "DEFAULT_PANEL", "PROFILES", "ErrorProfile", "PanelAnnotator", "aggregate",
    "dawid_skene", "dawid_skene_posteriors", "majority", "panel_vote", "panel_votes", "unanimity",
    "yield_and_precision",
]
