"""Item categories for the hierarchical sampler: a fine category and its parent per item.

Two ways, both stored in raw.item_categories under a `category_set` name:
- from the catalogue's path (category_l1..l3): fine = one level, parent = the level above
  (default: the deepest level and its parent; completejourney uses department > product
  category, see CATALOG_LEVELS);
- induced, for catalogues without a path (FBL): KMeans on the item vectors gives the fine
  categories, KMeans on the fine centroids groups them into parents. Seeded; deterministic.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timezone

import duckdb
import numpy as np
import pyarrow as pa

from python_jobs.config import InducedConfig
from python_jobs.learning.blas import single_threaded
from python_jobs.warehouse.arrow import arrow_table
from python_jobs.warehouse.live_rows import LIVE_CATALOG_ITEMS, LIVE_LABELLED_JUDGEMENTS

# completejourney: items are its 91,692 products, path department (29) > product category (343
# paths, 303 names) > product type (3,828 paths, 2,376 names). Fine = product category within its
# department, parent = department gives 297,423 candidates at Q = 10, N = 100 (at most 343 x 10 x
# 100 = 343k: 53 categories hold < 10 products, 14 departments < 101). No other choice of levels is
# nearer the paper's 368 x 10 x 100: product types as fine give up to ~2.0M, category as both fine
# and parent up to ~249k (and no partners from outside the query's own category).
CATALOG_LEVELS: dict[str, tuple[int, int]] = {"completejourney": (2, 1)}
FBL_CATALOG = "fbl"


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def default_cluster_counts(n_items: int, config: InducedConfig) -> tuple[int, int]:
    n_fine = config.n_fine or int(round(math.sqrt(n_items)))
    n_fine = max(1, min(n_fine, 1000, n_items))
    n_parent = config.n_parent or int(round(math.sqrt(n_fine)))
    return n_fine, max(1, min(n_parent, n_fine))


def _kmeans(matrix: np.ndarray, k: int, seed: int, n_init: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    with single_threaded():
        if len(matrix) > 20_000:
            model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=n_init, batch_size=4096)
        else:
            model = KMeans(n_clusters=k, random_state=seed, n_init=n_init)
        labels = model.fit_predict(matrix)
    return labels.astype(np.int64), model.cluster_centers_


def induce_clusters(matrix: np.ndarray, config: InducedConfig = InducedConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(fine label per item, parent label per fine cluster): pure, seeded."""
    n_fine, n_parent = default_cluster_counts(len(matrix), config)
    fine, centroids = _kmeans(np.asarray(matrix, dtype=np.float64), n_fine, config.seed, config.n_init)
    if n_parent == 1:
        return fine, np.zeros(len(centroids), dtype=np.int64)
    parent_of_fine, _ = _kmeans(centroids, n_parent, config.seed, config.n_init)
    return fine, parent_of_fine


def induced_category_set(feature_set: str, catalog: str, n_fine: int, n_parent: int, seed: int) -> str:
    return f"induced:{catalog}:{feature_set}:k{n_fine}/{n_parent}:s{seed}"


def path_category_set(catalog: str, fine_level: int, parent_level: int) -> str:
    return f"catalog:{catalog}:l{fine_level}/l{parent_level}"


def _exists(con: duckdb.DuckDBPyConnection, category_set: str) -> bool:
    row = con.execute("select count(*) from raw.item_categories where category_set = ?", [category_set]).fetchone()
    return bool(row and row[0])


def _catalog_item_ids(con: duckdb.DuckDBPyConnection, catalog: str, feature_set: str) -> list[str]:
    """Items of a catalogue that have a vector in the feature set (FBL items come from the judgements)."""
    if catalog == FBL_CATALOG:  # the items of every labelled dataset
        items_sql = f"""
            select item_a_id as item_id from {LIVE_LABELLED_JUDGEMENTS} as j
            union select item_b_id from {LIVE_LABELLED_JUDGEMENTS} as j
        """
        params: list = []
    else:
        items_sql = f"select item_id from {LIVE_CATALOG_ITEMS} as catalog_items where catalog = ?"
        params = [catalog]
    rows = con.execute(
        f"""
        select distinct v.item_id
        from raw.item_vectors as v
        inner join ({items_sql}) as i on i.item_id = v.item_id
        where v.feature_set = ?
        order by v.item_id
        """,
        params + [feature_set],
    ).fetchall()
    return [r[0] for r in rows]


def induce_categories(
    con: duckdb.DuckDBPyConnection,
    feature_set: str,
    catalog: str = FBL_CATALOG,
    config: InducedConfig = InducedConfig(),
) -> str:
    """Cluster the catalogue's item vectors into fine and parent categories; store; return the set name.

    Idempotent: a category set already stored is returned as it is.
    """
    item_ids = _catalog_item_ids(con, catalog, feature_set)
    if not item_ids:
        raise ValueError(f"no items of catalogue {catalog!r} have vectors in {feature_set!r}")
    n_fine, n_parent = default_cluster_counts(len(item_ids), config)
    category_set = induced_category_set(feature_set, catalog, n_fine, n_parent, config.seed)
    if _exists(con, category_set):
        return category_set
    table = arrow_table(con.execute(
        "select item_id, vector from raw.item_vectors where feature_set = ? and item_id in (select unnest(?)) "
        "order by item_id",
        [feature_set, item_ids],
    ))
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    matrix = flat.reshape(table.num_rows, -1)
    fine, parent_of_fine = induce_clusters(matrix, InducedConfig(n_fine, n_parent, config.seed, config.n_init))
    width_f, width_p = len(str(n_fine - 1)), len(str(n_parent - 1))
    rows = pa.table({
        "category_set": [category_set] * table.num_rows,
        "item_id": table.column("item_id"),
        "fine_category": [f"f{f:0{width_f}d}" for f in fine],
        "parent_category": [f"p{parent_of_fine[f]:0{width_p}d}" for f in fine],
    })
    _insert(con, rows)
    return category_set


def path_categories(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    fine_level: int | None = None,
    parent_level: int | None = None,
) -> str:
    """Categories from the catalogue path; fine/parent names are the full path down to that level.

    Items without a value at the fine level are left out (they cannot be placed)."""
    levels = CATALOG_LEVELS.get(catalog)
    if fine_level is None:
        if levels:
            fine_level, parent_level = levels
        else:
            fine_level = _deepest_level(con, catalog)
    parent_level = parent_level if parent_level is not None else max(fine_level - 1, 1)
    if not (1 <= parent_level <= fine_level <= 3):
        raise ValueError("levels must satisfy 1 <= parent_level <= fine_level <= 3")
    category_set = path_category_set(catalog, fine_level, parent_level)
    if _exists(con, category_set):
        return category_set

    def path(level: int) -> str:
        return "concat_ws(' > ', " + ", ".join(f"category_l{i}" for i in range(1, level + 1)) + ")"

    not_null = " and ".join(f"category_l{i} is not null" for i in range(1, fine_level + 1))
    con.execute(
        f"""
        insert into raw.item_categories (category_set, item_id, fine_category, parent_category, created_at)
        select ?, item_id, {path(fine_level)}, {path(parent_level)}, ?
        from {LIVE_CATALOG_ITEMS} as catalog_items
        where catalog = ? and {not_null}
        on conflict do nothing
        """,
        [category_set, _now(), catalog],
    )
    return category_set


def _deepest_level(con: duckdb.DuckDBPyConnection, catalog: str) -> int:
    row = con.execute(
        f"select count(category_l1), count(category_l2), count(category_l3) from {LIVE_CATALOG_ITEMS} as catalog_items where catalog = ?",
        [catalog],
    ).fetchone()
    filled = [level for level, count in zip((1, 2, 3), row or (0, 0, 0)) if count]
    if not filled:
        raise ValueError(f"catalogue {catalog!r} has no category path: induce categories instead")
    return max(filled)


def _path_catalogs(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        f"select catalog from {LIVE_CATALOG_ITEMS} as catalog_items where category_l1 is not null group by catalog order by count(*) desc"
    ).fetchall()
    return [r[0] for r in rows]


def ensure_categories(
    con: duckdb.DuckDBPyConnection,
    feature_set: str,
    seed: int = 0,
    source: str = "fbl_pool",
    catalog: str | None = None,
    config: InducedConfig = InducedConfig(),
) -> str:
    """The category set a run samples from (created if missing); pass it to dbt as karl_category_set.

    fbl_pool: induced over the FBL items. sampler: the path of `catalog` (default: the largest
    catalogue with a path), else induced over the FBL items; a named `catalog` without a path:
    induced over its own items (the sampler's pool then holds only them).
    """
    if source == "sampler" and catalog and catalog not in _path_catalogs(con):
        return induce_categories(con, feature_set, catalog=catalog, config=replace(config, seed=seed))
    if source == "sampler":
        catalogs = [catalog] if catalog else _path_catalogs(con)
        if catalogs and catalogs[0] != FBL_CATALOG:
            return path_categories(con, catalogs[0])
    return induce_categories(con, feature_set, catalog=FBL_CATALOG, config=replace(config, seed=seed))


def _insert(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    con.register("_karl_item_categories", rows)
    try:
        con.execute(
            """
            insert into raw.item_categories (category_set, item_id, fine_category, parent_category, created_at)
            select category_set, item_id, fine_category, parent_category, ?
            from _karl_item_categories
            on conflict do nothing
            """,
            [_now()],
        )
    finally:
        con.unregister("_karl_item_categories")
