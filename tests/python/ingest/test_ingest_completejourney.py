"""`ingest_completejourney` on a slice of the real package data (the full run takes ~10 s; the
CLI path over the whole data set is exercised by `karl ingest completejourney`)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from ingest_fixtures import query

from python_jobs import warehouse
from python_jobs.candidates.basket_labels import LiftRule, pair_lifts
from python_jobs.ingest.completejourney import (
    ingest_completejourney,
    item_id_for,
    package_file,
    title_for,
)


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


TYPED = " and ".join(f"nullif(trim({c}), '') is not null" for c in ("department", "product_category", "product_type"))


def test_products_become_items_and_baskets_land(tmp_path: Path) -> None:
    products, transactions, removed = slice_of_the_data(tmp_path / "cj")
    db_path = tmp_path / "karl.duckdb"
    con = warehouse.connect(db_path)
    try:
        outcome = ingest_completejourney(con, products_path=products, transactions_path=transactions)
        again = ingest_completejourney(con, products_path=products, transactions_path=transactions)
    finally:
        con.close()

    expected_items = query(db_path, f"select count(*) from '{products}' where {TYPED}")[0][0]
    assert outcome.rows_loaded == expected_items > 1000
    assert query(db_path, "select count(*), count(distinct catalog) from raw.catalog_items") == [(expected_items, 1)]
    # One item per product: its id, its path, a title made of type, category, brand and size.
    items = query(
        db_path,
        f"""
        select i.item_id, i.title, i.category_l1, i.category_l2, i.category_l3,
               p.product_id, p.department, p.product_category, p.product_type, p.brand, p.package_size
        from raw.catalog_items i join '{products}' p on i.item_id = 'cj:' || p.product_id
        """,
    )
    assert len(items) == expected_items
    for item_id, title, l1, l2, l3, product_id, department, category, kind, brand, size in items:
        assert item_id == item_id_for(product_id)
        assert (l1, l2, l3) == (department, category, kind)
        assert title == title_for(category, kind, brand or "", size or "")
    assert title_for("BREAD", "BAGELS", "National", "16 OZ") == "BAGELS (BREAD) National 16 OZ"
    assert title_for("CIGARETTES", "CIGARETTES", "Private", "") == "CIGARETTES Private"

    # Basket lines: one per (basket, product) bought, from every transaction line of a typed product.
    expected_lines = query(
        db_path,
        f"""
        select count(*) from (
            select distinct t.basket_id, t.product_id
            from '{transactions}' t join '{products}' p using (product_id) where {TYPED})
        """,
    )[0][0]
    assert outcome.details["basket lines loaded (basket x product)"] == expected_lines
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


def test_lift_of_real_product_pairs_is_lift_of_their_types(tmp_path: Path) -> None:
    """On the slice: the behaviour-based label of two products is computed on their product types,
    checked against the lift counted straight from the Parquet files."""
    products, transactions, _ = slice_of_the_data(tmp_path / "cj")
    db_path = tmp_path / "karl.duckdb"
    con = warehouse.connect(db_path)
    try:
        ingest_completejourney(con, products_path=products, transactions_path=transactions)
        # For the 6 most bought types (department > category > type), the two products bought most.
        con.execute(
            f"""
            create table picked as
            with lines as (
                select t.basket_id, t.product_id, p.department || ' > ' || p.product_category || ' > ' || p.product_type as kind
                from '{transactions}' t join '{products}' p using (product_id) where {TYPED}
            ),
            top_types as (select kind from lines group by kind order by count(distinct basket_id) desc, kind limit 6),
            ranked as (
                select kind, product_id, row_number() over (partition by kind order by count(*) desc, product_id) as r
                from lines where kind in (select kind from top_types) group by kind, product_id
            )
            select kind, 'cj:' || product_id as item_id from ranked where r <= 2
            """
        )
        con.execute(
            """
            create table picked_pairs as
            select a.item_id || '~' || b.item_id as pair_key, a.item_id as item_a_id, b.item_id as item_b_id,
                   a.kind as kind_a, b.kind as kind_b
            from picked a join picked b on a.item_id < b.item_id
            """
        )
        lifts = pair_lifts(con, "select * from picked_pairs", rule=LiftRule(1.5, 3)).set_index("pair_key")
        kinds = {key: (a, b) for key, a, b in con.execute("select pair_key, kind_a, kind_b from picked_pairs").fetchall()}
        expected = dict(
            (key, (n_ab, n_a, n_b, n)) for key, n_ab, n_a, n_b, n in con.execute(
                f"""
                with lines as (
                    select distinct t.basket_id, p.department || ' > ' || p.product_category || ' > ' || p.product_type as kind
                    from '{transactions}' t join '{products}' p using (product_id) where {TYPED}
                ),
                n as (select count(distinct basket_id) as n from lines)
                select pp.pair_key,
                    (select count(*) from lines x join lines y on x.basket_id = y.basket_id
                     where x.kind = pp.kind_a and y.kind = pp.kind_b),
                    (select count(*) from lines where kind = pp.kind_a),
                    (select count(*) from lines where kind = pp.kind_b),
                    n.n
                from picked_pairs pp cross join n
                """
            ).fetchall()
        )
    finally:
        con.close()
    assert len(lifts) == 66  # 12 products, 6 types
    same = [key for key, (a, b) in kinds.items() if a == b]
    assert len(same) == 6
    for key, row in lifts.iterrows():
        n_ab, n_a, n_b, n = expected[key]
        assert (row.key_a, row.key_b) == kinds[key]
        assert (row.n_a, row.n_b, row.n_baskets) == (n_a, n_b, n)
        assert row.n_ab == n_ab  # same type: the type's own baskets (n_ab = n_a)
        if key in same:
            assert pd.isna(row.lift) and row.relation_label == "substitute"
        else:
            assert row.lift == pytest.approx(n_ab * n / (n_a * n_b))
            assert row.relation_label == ("complement" if row.lift >= 1.5 and n_ab >= 3 else "other")
    assert set(lifts.relation_label) >= {"substitute", "other"}
