# karl: two commands. `make demo` sets up and runs the main job; `make test` runs every test.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
KARL := $(VENV)/bin/karl
KARL_FBL_DIR ?= $(abspath ../shared/data/fbl_askul)
TEST_DB ?= $(CURDIR)/warehouse/test_build.duckdb

export KARL_FBL_DIR
export DBT_SEND_ANONYMOUS_USAGE_STATS ?= false
export GX_ANALYTICS_ENABLED ?= false

.PHONY: install install-test demo test test-fast test-dbt test-python lint clean

# Two install stamps: `make demo` installs karl's core only; `make test` adds the dev and spark
# extras into the same venv (so `make demo` then `make test` in one clone installs the extras once).
# --no-compile: bytecode is written on first import, so modules karl never imports (most of
# scipy, pyarrow, great-expectations, the packages' own tests) cost no .pyc files: 993 MB against
# 1,231 MB compiled; compiling the ~660 modules `make demo` imports takes about 1 s of CPU, once.
$(VENV)/.installed-core: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-core pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,spark,dagster]'
	touch $@

install: $(VENV)/.installed-core

install-test: $(VENV)/.installed-test

demo: install
	$(KARL) demo

# dbt data and unit tests on a freshly ingested warehouse, the SQL style check, then pytest.
test: install-test test-dbt lint test-python

test-dbt: install-test
	rm -f $(TEST_DB) $(TEST_DB).wal
	KARL_DUCKDB_PATH=$(TEST_DB) $(KARL) ingest fbl
	KARL_DUCKDB_PATH=$(TEST_DB) $(KARL) build --unit-tests

lint: install-test
	mkdir -p $(dir $(TEST_DB))
	KARL_DUCKDB_PATH=$(TEST_DB) $(VENV)/bin/sqlfluff lint models tests/singular macros

# Random order (pytest-randomly; the seed is printed, `--randomly-seed=N` replays it) and the
# slowest tests, so a test that depends on another's leftovers, or a new slow one, shows.
# One pytest run on TEST_WORKERS pytest-xdist processes: each module is one work unit (its
# module fixtures paid once), tests/python/spark/ is one unit (one JVM), and the Spark, then the
# slow, then the light units go out first (tests/python/conftest.py). TEST_WORKERS=0 runs
# everything in this process.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) $(if $(filter 0,$(TEST_WORKERS)),,--dist loadscope --no-loadscope-reorder)
test-python: install-test
	$(PY) -m pytest $(XDIST) --durations=25

# The edit loop: everything but whole runs, kill -9s, from-scratch builds (slow) and Spark.
test-fast: install-test
	$(PY) -m pytest $(XDIST) -m "not slow and not spark" --durations=10

clean:
	rm -rf target logs warehouse reports
