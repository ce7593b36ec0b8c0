"""karl under an orchestrator: Dagster definitions (`dagster dev -m python_jobs.orchestration.definitions`).
Needs the `dagster` extra; nothing else in karl imports this package."""
