"""`ingest_completejourney` on a slice of the real package data (the full run takes ~10 s; the
CLI path over the whole data set is exercised by `karl ingest completejourney`)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ingest_fixtures import query
from python_jobs import warehouse
from python_jobs.ingest.completejourney import ingest_completejourney, item_id_for, package_file


def slice_of_the_data(folder: Path) -> tuple[Path, Path, int]:
    """The first 5,000 transaction lines, the products they reference minus one (so its lines
    are unknown), plus 20 products without a category path. Returns the paths and the id of
    the removed product."""
    folder.mkdir()
    products, transactions = folder / "products.parquet", folder / "transactions.parquet"
    con = duckdb.connect()
    con.execute(
        f"create table tx as select * from read_parquet('{package_file('transactions')}', file_row_number = true) "
        "where file_row_number < 5000 order by file_row_number"
    )
    con.execute(f"copy (select * exclude (file_row_number) from tx order by file_row_number) to '{transactions}' (format parquet)")
    (removed,) = con.execute(
        f"select min(product_id) from tx where product_id in (select product_id from '{package_file('products')}' where product_type is not null and product_category is not null)"
    ).fetchone()
    con.execute(
        f"""
        copy (
            select * from '{package_file('products')}'
            where (product_id in (select product_id from tx) and product_id <> {removed})
               or product_id in (select product_id from '{package_file('products')}' where product_category is null order by product_id limit 20)
            order by product_id
        ) to '{products}' (format parquet)
        """
    )
    con.close()
    return products, transactions, removed


def test_product_types_become_items_and_baskets_land(tmp_path: Path) -> None:
    products, transactions, removed = slice_of_the_data(tmp_path / "cj")
    db_path = tmp_path / "karl.duckdb"
    con = warehouse.connect(db_path)
    try:
        outcome = ingest_completejourney(con, products_path=products, transactions_path=transactions)
        again = ingest_completejourney(con, products_path=products, transactions_path=transactions)
    finally:
        con.close()

    expected_items = query(
        db_path,
        f"select count(distinct (department, product_category, product_type)) from '{products}' "
        "where product_category is not null and product_type is not null",
    )[0][0]
    assert outcome.rows_loaded == expected_items > 100
    assert query(db_path, "select count(*), count(distinct catalog) from raw.catalog_items") == [(expected_items, 1)]
    # One item per department > category > type; the path is on the item, the title names it.
    [(item_id, title, l1, l2, l3)] = query(
        db_path,
        "select item_id, title, category_l1, category_l2, category_l3 from raw.catalog_items order by item_id limit 1",
    )
    assert item_id == item_id_for(l1, l2, l3)
    assert title == (l3 if l3 == l2 else f"{l3} ({l2})")

    # Basket lines: one per (basket, product type) bought, from every transaction line of a typed product.
    expected_lines = query(
        db_path,
        f"""
        select count(*) from (
            select distinct t.basket_id, p.department, p.product_category, p.product_type
            from '{transactions}' t join '{products}' p using (product_id)
            where p.product_category is not null and p.product_type is not null)
        """,
    )[0][0]
    assert outcome.details["basket lines loaded (basket x product type)"] == expected_lines
    assert query(db_path, "select count(*), count(distinct (basket_id, item_id)) from raw.basket_lines") == [(expected_lines, expected_lines)]
    (n_lines,) = query(db_path, "select sum(n_lines) from raw.basket_lines")[0]

    # Nothing dropped silently: every transaction line is in a basket line or quarantined.
    kinds = dict(query(db_path, "select split_part(reason, ':', 1), count(*) from raw.quarantine group by 1"))
    assert kinds["blank_category"] >= 20
    assert kinds["unknown_product"] >= 1
    assert n_lines + kinds["unknown_product"] + kinds.get("product_quarantined", 0) == 5000
    assert query(
        db_path, "select count(*) from raw.quarantine where reason like ? ", [f"unknown_product: product_id {removed} %"]
    )[0][0] >= 1

    assert again.already_ingested
    assert query(db_path, "select count(*) from raw.basket_lines") == [(expected_lines,)]
    assert query(db_path, "select count(*) from raw.ingest_batches") == [(1,)]
