"""karl: warehouse-native Knowledge-Augmented Relation Learning (dbt + DuckDB)."""

__version__ = "0.1.0"
