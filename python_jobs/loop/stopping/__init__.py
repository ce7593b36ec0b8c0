"""When `karl run --until-stable` stops: the dbt verdict (`mart_verdict`, `--stop-rule signal`),
the rules that need no held-out labels plus the OOD plateau (`rules`, pure functions), and the
per-round signals those rules read from raw tables (`signals`)."""

from python_jobs.loop.stopping.mart_verdict import SIGNAL_RELATION, should_stop
from python_jobs.loop.stopping.rules import LABEL_FREE_RULES, STOP_RULES, RunSignals, cohen_kappa, stop_round
from python_jobs.loop.stopping.signals import load_run_signals, should_stop_by_rule

__all__ = [
    "LABEL_FREE_RULES", "SIGNAL_RELATION", "STOP_RULES", "RunSignals", "cohen_kappa", "load_run_signals",
    "should_stop", "should_stop_by_rule", "stop_round",
]
