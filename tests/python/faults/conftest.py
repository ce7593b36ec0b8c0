"""The fault suite's fixtures (defined in fault_tools.py with the helpers the tests import)."""

from fault_tools import ingested_template, reference_run, small_disk  # noqa: F401 - pytest finds them here
