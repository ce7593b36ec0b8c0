"""The Spark engine, all of it: the process's SparkSession with the settings profiles.yml gives
dbt-spark (session.py), the raw tables created and copied whole from a DuckDB file (loader.py),
an ingest's rows and every lagging raw row published, and a build refused while Spark is behind
(raw_sync.py), a `--engine spark` run's rows published to Spark and its
marts built there (run_publishing.py), the warehouse interface on the session (warehouse.py), and
the steps whose cost grows with the catalogue as Spark jobs: candidate scoring with the members'
stacked weights broadcast (scoring.py) and item features with the fitted featuriser broadcast
(features.py). pyspark is imported by this package only, and lazily: the DuckDB engine never
loads it."""
