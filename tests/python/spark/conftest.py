"""The Spark tests: skipped as a package when pyspark (the `spark` extra) is not installed. Their
one Spark session is the `spark` fixture of tests/python/conftest.py, shared with every test."""

from __future__ import annotations

import pytest

pytest.importorskip("pyspark", reason="the spark extra (pyspark) is not installed")
