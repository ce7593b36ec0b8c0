"""Item categories in raw.item_categories: from a catalogue path, and induced from item vectors."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from python_jobs import warehouse
from python_jobs.candidates.categories import (
    ensure_categories,
    induce_categories,
    path_categories,
)
from python_jobs.config import InducedConfig

NOW = datetime(2026, 1, 1)


def _insert_catalogue(con, catalog: str, rows: list[tuple]) -> None:  # noqa: ANN001
    con.executemany(
        "insert into raw.catalog_items values (?, ?, ?, ?, ?, ?, 'test', ?)",
        [(catalog, item, f"made-up {item}", l1, l2, l3, NOW) for item, l1, l2, l3 in rows],
    )


def _categories(con, category_set: str) -> dict[str, tuple[str, str]]:  # noqa: ANN001
    rows = con.execute(
        "select item_id, fine_category, parent_category from raw.item_categories where category_set = ?",
        [category_set],
    ).fetchall()
    return {item: (fine, parent) for item, fine, parent in rows}


def test_path_categories_deepest_level_full_paths_and_idempotent(db_path) -> None:
    con = warehouse.connect(db_path)
    _insert_catalogue(con, "shop", [
        ("i1", "Food", "Dairy", "Milk"), ("i2", "Food", "Dairy", "Butter"),
        ("i3", "Home", "Dairy", "Milk"),  # same names under another parent stay apart
        ("i4", "Home", "Tools", None),    # no deepest level: left out
    ])
    category_set = path_categories(con, "shop")
    assert category_set == "catalog:shop:l3/l2"
    assert _categories(con, category_set) == {
        "i1": ("Food > Dairy > Milk", "Food > Dairy"),
        "i2": ("Food > Dairy > Butter", "Food > Dairy"),
        "i3": ("Home > Dairy > Milk", "Home > Dairy"),
    }
    assert path_categories(con, "shop") == category_set
    assert con.execute("select count(*) from raw.item_categories").fetchone()[0] == 3
    # Explicit levels: fine = level 2, parent = level 1.
    assert _categories(con, path_categories(con, "shop", 2, 1))["i4"] == ("Home > Tools", "Home")
    con.close()


def test_completejourney_uses_product_category_within_department(db_path) -> None:
    """completejourney items are products: fine = department > product category, parent =
    department; the product type (level 3) is not a category level of the sampler."""
    con = warehouse.connect(db_path)
    _insert_catalogue(con, "completejourney", [
        ("cj:1", "GROCERY", "BREAD", "BAGELS"), ("cj:2", "GROCERY", "BREAD", "BAGELS"),
        ("cj:3", "GROCERY", "BREAD", "ROLLS"), ("cj:4", "GROCERY", "CHEESE", "STRING CHEESE"),
        ("cj:5", "PRODUCE", "CHEESE", "SPECIALTY CHEESE"),
    ])
    category_set = ensure_categories(con, "unused", source="sampler")
    assert category_set == "catalog:completejourney:l2/l1"
    assert _categories(con, category_set) == {
        "cj:1": ("GROCERY > BREAD", "GROCERY"), "cj:2": ("GROCERY > BREAD", "GROCERY"),
        "cj:3": ("GROCERY > BREAD", "GROCERY"), "cj:4": ("GROCERY > CHEESE", "GROCERY"),
        "cj:5": ("PRODUCE > CHEESE", "PRODUCE"),
    }
    con.close()


def test_induced_categories_for_fbl_items(db_path) -> None:
    con = warehouse.connect(db_path)
    rng = np.random.default_rng(0)
    items = [f"askul:{i:04d}" for i in range(60)]
    judgements = [
        ("FBL2023", i + 2, "u", items[2 * i], "a", "u", items[2 * i + 1], "b", 1, "x", 8, "fbl9", "t", NOW)
        for i in range(30)
    ]
    con.executemany("insert into raw.fbl_judgements values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", judgements)
    centres = rng.standard_normal((4, 8)) * 5
    vectors = np.vstack([centres[i % 4] + rng.standard_normal(8) for i in range(60)])
    con.register("v", pd.DataFrame({"item_id": items, "vector": list(vectors)}))
    con.execute("insert into raw.item_vectors select 'fs', item_id, vector, ? from v", [NOW])
    config = InducedConfig(n_fine=4, n_parent=2, seed=3)
    category_set = induce_categories(con, "fs", config=config)
    assert category_set == "induced:fbl:fs:k4/2:s3"
    placed = _categories(con, category_set)
    assert len(placed) == 60
    # The planted groups are the fine categories; each fine category has one parent.
    assert all(len({placed[items[j]][0] for j in range(i, 60, 4)}) == 1 for i in range(4))
    assert len({fine for fine, _ in placed.values()}) == 4 and len({p for _, p in placed.values()}) == 2
    assert induce_categories(con, "fs", config=config) == category_set  # stored once
    assert con.execute("select count(*) from raw.item_categories").fetchone()[0] == 60
    con.close()
