"""The hierarchical sampler (dbt, for real) on a small synthetic catalogue with a category path:
determinism per seed, exclusions (labelled, evaluation, self-pairs) and per-category caps.

Catalogue (made-up titles): parent P0 = fine F00 (30 items) + F01 (5); parent P1 = F10 (5) +
F11 (5); parent P2 = F20 (1 item). Q = 3 queries per fine category, N = 10 partners. P1 is
smaller than N + 1, so each of its queries must be paired with every other P1 item except the
excluded ones: that makes the expected candidate set of P1 exact.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from python_jobs import warehouse
from python_jobs.candidates.categories import path_categories
from python_jobs.warehouse.keys import pair_key

Q, N = 3, 10
LAYOUT = {("P0", "F00"): 30, ("P0", "F01"): 5, ("P1", "F10"): 5, ("P1", "F11"): 5, ("P2", "F20"): 1}
NOW = datetime(2026, 1, 1)


def _catalogue() -> pd.DataFrame:
    rows, n = [], 0
    for (parent, fine), size in LAYOUT.items():
        for _ in range(size):
            rows.append({"item_id": f"synth:{n:03d}", "title": f"made-up item {n}", "l1": parent, "l2": fine})
            n += 1
    return pd.DataFrame(rows)


def _judgement_rows(dataset: str, pairs: list[tuple[str, str]], label: int, scheme: str) -> list[tuple]:
    rows = []
    for line, (a, b) in enumerate(pairs, start=2):
        for slot in (1, 2, 3):
            rows.append((dataset, line, f"https://example.invalid/{a}", a, f"title {a}", f"https://example.invalid/{b}",
                         b, f"title {b}", slot, f"annotator{slot}", label, scheme, "synthetic", NOW))
    return rows


def _labelled_pairs(items: pd.DataFrame) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    p1 = items[items.l1 == "P1"].item_id.tolist()
    p0 = items[items.l1 == "P0"].item_id.tolist()
    # FBL2023 (human + training labels, ID eval set): pairs inside P1 and one inside P0.
    fbl2023 = [(p1[i], p1[(i * 5 + 3) % len(p1)]) for i in range(0, len(p1), 2)] + [(p0[0], p0[1])]
    # FBL2024 (pool / test halves): more pairs inside P1, several anchors so both halves fill.
    fbl2024 = [(p1[i], p1[(i + 7) % len(p1)]) for i in range(1, len(p1), 3)] + [(p0[2], p0[3]), (p0[4], p0[5])]
    fbl2023 = [pair for pair in fbl2023 if pair[0] != pair[1]]
    fbl2024 = [pair for pair in fbl2024 if pair[0] != pair[1]]
    return fbl2023, fbl2024


def _build(db: Path, target: Path, category_set: str, seed: int, upstream: bool = False) -> None:
    # upstream: also seeds, staging and label marts (first build only); cautious indirect
    # selection keeps out tests that need models outside the selection.
    selector = ["--select", "+tag:karl_candidates", "--indirect-selection", "cautious"] if upstream else [
        "--select", "tag:karl_candidates"]
    warehouse.run_dbt(
        ["build", *selector],
        db_path=db,
        target_path=target,
        dbt_vars={"karl_candidate_source": "sampler", "karl_category_set": category_set, "karl_sampler_seed": seed,
                  "karl_sampler_queries": Q, "karl_sampler_partners": N},
    )


@pytest.fixture(scope="module")
def sampled(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("sampler")
    db = root / "karl.duckdb"
    target = root / "target"
    con = warehouse.connect(db)
    items = _catalogue()
    con.register("items", items)
    con.execute(
        "insert into raw.catalog_items select 'synth', item_id, title, l1, l2, null, 'synthetic', ? from items", [NOW]
    )
    fbl2023, fbl2024 = _labelled_pairs(items)
    con.executemany(
        "insert into raw.fbl_judgements values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        _judgement_rows("FBL2023", fbl2023, 1, "fbl9") + _judgement_rows("FBL2024", fbl2024, 2, "relation3"),
    )
    category_set = path_categories(con, "synth")

    def candidates(seed: int, upstream: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
        _build(db, target, category_set, seed, upstream)
        frame = con.execute("select * from marts.fct_candidate_pairs order by pair_key").df()
        ranked = con.execute("select * from intermediate.int_item_categories_selected").df()
        excluded = {
            row[0]
            for row in con.execute("""
                select pair_key from marts.fct_human_labels
                union select pair_key from marts.fct_training_labels where label_source <> 'llm'
                union select pair_key from marts.fct_eval_sets
            """).fetchall()
        }
        return frame, ranked, excluded

    first = candidates(0, upstream=True)
    again = candidates(0)
    other = candidates(1)
    yield {"items": items, "category_set": category_set, "seed0": first, "seed0_again": again, "seed1": other,
           "labelled": fbl2023 + fbl2024}
    con.close()


def test_deterministic_per_seed(sampled) -> None:
    first, _, _ = sampled["seed0"]
    again, _, _ = sampled["seed0_again"]
    other, _, _ = sampled["seed1"]
    assert len(first) > 0
    pd.testing.assert_frame_equal(first, again)
    assert set(first.pair_key) != set(other.pair_key)


def test_no_self_labelled_or_evaluation_pairs(sampled) -> None:
    for name in ("seed0", "seed1"):
        frame, _, excluded = sampled[name]
        labelled = {pair_key(a, b) for a, b in sampled["labelled"]}
        assert labelled <= excluded  # the warehouse marts hold every synthetic judgement
        assert (frame.item_a_id != frame.item_b_id).all()
        assert not set(frame.pair_key) & excluded
        assert frame.pair_key.is_unique


def test_caps_and_hierarchy(sampled) -> None:
    items = sampled["items"].set_index("item_id")
    for name in ("seed0", "seed1"):
        frame, ranked, _ = sampled[name]
        assert frame.groupby("item_a_id").size().max() <= N
        queries_per_fine = frame.groupby("fine_category").item_a_id.nunique()
        assert (queries_per_fine <= Q).all()
        # Partners come from the query's parent category; the query from its fine category.
        assert (items.loc[frame.item_b_id, "l1"].to_numpy() == items.loc[frame.item_a_id, "l1"].to_numpy()).all()
        assert (frame.fine_category == "P0 > " + items.loc[frame.item_a_id, "l2"].to_numpy()).where(
            frame.parent_category == "P0", True).all()
        # The lone item of P2 has no partner; F01 (5 items) still gets its Q queries.
        assert "P2 > F20" not in set(frame.fine_category)
        assert queries_per_fine["P0 > F01"] == Q
        # A query of P0 (34 possible partners, few exclusions) is filled up to N.
        p0_counts = frame[frame.parent_category == "P0"].groupby("item_a_id").size()
        assert (p0_counts == N).sum() >= 4


def test_small_parent_gets_every_allowed_pair(sampled) -> None:
    items = sampled["items"]
    p1 = items[items.l1 == "P1"].item_id.tolist()
    for name in ("seed0", "seed1"):
        frame, ranked, excluded = sampled[name]
        queries = ranked[(ranked.parent_category == "P1") & (ranked.query_rank <= Q)].item_id.tolist()
        assert len(queries) == 2 * Q
        expected = {pair_key(q, other) for q in queries for other in p1 if other != q} - excluded
        got = set(frame[frame.parent_category == "P1"].pair_key)
        assert got == expected
        assert len(excluded & {pair_key(q, o) for q in queries for o in p1 if o != q}) > 0
