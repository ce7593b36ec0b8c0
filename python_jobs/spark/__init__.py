"""The Spark engine's jobs: the warehouse interface on a SparkSession (warehouse.py), and the
steps whose cost grows with the catalogue as Spark jobs: candidate scoring with the members'
stacked weights broadcast (scoring.py) and item features with the fitted featuriser broadcast
(features.py). pyspark is imported by these modules only: the DuckDB engine never loads it."""
