"""The paper's RQ2 at catalogue scale: do uncertainty strategies beat random out of distribution
when the pool is far larger than the budget? `karl experiment` on The Complete Journey (issue 23).

The set-up, on a fresh DuckDB file in --workdir (kept, so a second call resumes the experiment):

- `ingest completejourney` (91,692 products; titles from type, category, brand and size) and
  `karl build`; the categories are the catalogue path (department > category fine, department
  parent), as the sampler uses them.
- Truth: behaviour labels, co-purchase lift between the products' types
  (python_jobs/candidates/basket_labels.py). The simulated annotator answers from it with its
  stated noise; every candidate has one.
- Held-out evaluation set `cj_eval`: per fine category, --eval-anchors anchors (seeded) and each
  anchor with --eval-partners partners from its parent category, the sampler's own recipe, with
  their behaviour labels. Loaded with `karl ingest labels`, it is an eval dataset: its pairs are
  never candidates, and its anchors are never the sampler's queries (int_item_categories_selected).
- Seed labels `cj_seed`: other anchors (--seed-anchors per fine category, --seed-partners each),
  behaviour-labelled, the run's training labels (ID = cross-validation over them).
- Then `karl experiment --candidate-source sampler --catalog completejourney --annotator simulated
  --train-labels cj_seed --pool-labels none --eval-labels cj_eval` over --strategies x --seeds x
  --rounds. The simulated annotator believes the truth of a pair with probability
  --simulated-accuracy (default 0.849, the FBL paper's GPT-4o-mini figure; else a uniformly drawn
  other class) and repeats its belief in each of the K = 3 calls with probability 0.989; only
  unanimous answers become labels, so a wrong belief usually passes. A sampler run's ceiling trains on 20,000 candidates with their true labels
  (loop/ceiling.py).

Prints the labels' class counts, the experiment's progress, and the learning-curve table with each
strategy against random, paired by seed (benchmarks/experiment_table.py).

    .venv/bin/python benchmarks/catalog_rq2.py [--workdir DIR] [--strategies margin,breaking_ties,random,kcenter]
        [--seeds 0-2] [--rounds 20] [--budget 50] [--transactions N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402
from catalog_run import completejourney_slice  # noqa: E402
from experiment_table import print_tables  # noqa: E402

from python_jobs import warehouse  # noqa: E402
from python_jobs.candidates import basket_labels  # noqa: E402
from python_jobs.candidates.categories import path_categories  # noqa: E402
from python_jobs.config import STRATEGIES, RunConfig  # noqa: E402
from python_jobs.errors import KarlError  # noqa: E402
from python_jobs.ingest.completejourney import ingest_completejourney  # noqa: E402
from python_jobs.ingest.labels import ingest_labels  # noqa: E402
from python_jobs.loop.experiment import ExperimentConfig, parse_seeds, run_experiment  # noqa: E402
from python_jobs.loop.roles import PAIR_KEY_SQL  # noqa: E402
from python_jobs.warehouse.live_rows import LIVE_LABELLED_JUDGEMENTS  # noqa: E402

CATALOG = "completejourney"
SEED_DATASET, EVAL_DATASET = "cj_seed", "cj_eval"
ANNOTATOR_ID = "basket_lift"

# Per fine category, anchors in a seeded hash order: the first `eval_anchors` are evaluation
# anchors, the next `seed_anchors` seed anchors; each anchor is paired with the first partners of
# its parent category in another seeded order.
LABELLED_PAIRS_SQL = """
    with
    items as (
        select item_id, fine_category, parent_category from raw.item_categories where category_set = $category_set
    ),
    ranked as (
        select *, row_number() over (partition by fine_category order by hash($salt || ':anchor:' || item_id), item_id)
            as anchor_rank
        from items
    ),
    anchors as (
        select item_id as anchor_id, parent_category,
               case when anchor_rank <= $eval_anchors then 'eval' else 'seed' end as dataset_role
        from ranked where anchor_rank <= $eval_anchors + $seed_anchors
    ),
    partnered as (
        select anchors.anchor_id, anchors.dataset_role, partners.item_id as partner_id,
               row_number() over (partition by anchors.anchor_id
                                  order by hash($salt || ':partner:' || anchors.anchor_id || '|' || partners.item_id),
                                           partners.item_id) as partner_rank
        from anchors
        inner join items as partners
            on partners.parent_category = anchors.parent_category and partners.item_id <> anchors.anchor_id
    )
    select dataset_role, item_a_id, item_b_id, """ + PAIR_KEY_SQL + """ as pair_key
    from (
        select dataset_role, anchor_id as item_a_id, partner_id as item_b_id
        from partnered
        where partner_rank <= case when dataset_role = 'eval' then $eval_partners else $seed_partners end
    ) as drawn
"""


def set_up(con: duckdb.DuckDBPyConnection, args: argparse.Namespace, workdir: Path) -> None:
    """Ingest and build the catalogue, then label and load the evaluation and seed pairs (once)."""
    started = time.perf_counter()
    print("ingest completejourney ...", flush=True)
    outcome = ingest_completejourney(con, **completejourney_slice(workdir, args.transactions))
    print(f"  {outcome.rows_loaded:,} products, {outcome.details}, {len(outcome.quarantined):,} rows quarantined "
          "(raw.quarantine)", flush=True)
    print("dbt build ...", flush=True)
    warehouse.run_dbt(["build"], db_path=workdir / "karl.duckdb")
    category_set = path_categories(con, CATALOG)
    pairs = con.execute(LABELLED_PAIRS_SQL, {
        "category_set": category_set, "salt": str(args.label_seed), "eval_anchors": args.eval_anchors,
        "seed_anchors": args.seed_anchors, "eval_partners": args.eval_partners, "seed_partners": args.seed_partners,
    }).df()
    # A pair drawn for both roles (a seed anchor that is an evaluation anchor's partner, and back)
    # stays evaluation: an evaluation pair must never train.
    pairs = pairs.sort_values("dataset_role").drop_duplicates("pair_key", keep="first")
    con.register("_rq2_pairs", pairs)
    try:
        truth = basket_labels.reference_labels(con, "select pair_key, item_a_id, item_b_id from _rq2_pairs", CATALOG)
    finally:
        con.unregister("_rq2_pairs")
    pairs["relation_label"] = pairs.pair_key.map(truth)
    pairs["annotator_id"] = ANNOTATOR_ID
    for role, dataset in (("eval", EVAL_DATASET), ("seed", SEED_DATASET)):
        rows = pairs[(pairs.dataset_role == role) & pairs.relation_label.notna()]
        path = workdir / f"{dataset}.csv"
        rows[["item_a_id", "item_b_id", "relation_label", "annotator_id"]].to_csv(path, index=False)
        outcome = ingest_labels(con, path, dataset, catalog=CATALOG)
        counts = rows.relation_label.value_counts().to_dict()
        print(f"{dataset}: {len(rows):,} pairs of {rows.item_a_id.nunique():,} anchors, classes {counts}; "
              f"{outcome.rows_loaded:,} loaded, {len(outcome.quarantined)} quarantined", flush=True)
    warehouse.run_dbt(["build"], db_path=workdir / "karl.duckdb")
    print(f"set-up: {time.perf_counter() - started:.0f} s", flush=True)


def is_set_up(con: duckdb.DuckDBPyConnection) -> bool:
    held = con.execute(f"select count(distinct dataset) from {LIVE_LABELLED_JUDGEMENTS} as j where dataset in (?, ?)",
                       [SEED_DATASET, EVAL_DATASET]).fetchone()[0]
    return held == 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/out/catalog_rq2"),
                        help="the warehouse's folder; a second call resumes the experiment there")
    parser.add_argument("--strategies", default="margin,breaking_ties,random,kcenter")
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--tuning-trials", type=int, default=12)
    parser.add_argument("--workers", type=int, default=1, help="ID cross-validation processes (1: a shared machine)")
    parser.add_argument("--eval-anchors", type=int, default=1, help="evaluation anchors per fine category")
    parser.add_argument("--eval-partners", type=int, default=10, help="partners of each evaluation anchor")
    parser.add_argument("--seed-anchors", type=int, default=2, help="seed-label anchors per fine category")
    parser.add_argument("--seed-partners", type=int, default=3, help="partners of each seed anchor")
    parser.add_argument("--label-seed", type=int, default=0, help="seed of the anchor and partner draws")
    parser.add_argument("--transactions", type=int, default=None,
                        help="only the first N transaction lines and their products (a smoke-test size)")
    parser.add_argument("--simulated-accuracy", type=float, default=RunConfig.simulated_accuracy,
                        help="the simulated annotator's share of pairs it believes right (1.0: no noise)")
    parser.add_argument("--experiment-id", default="cj-rq2")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    pd.set_option("display.width", 250)

    workdir = args.workdir.resolve()
    if workdir.exists() and not workdir.is_dir():
        parser.error(f"--workdir {workdir} is a file; give a folder (it holds the warehouse)")
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "karl.duckdb"
    os.environ["KARL_DUCKDB_PATH"] = str(db)
    os.environ["KARL_DBT_TARGET_PATH"] = str(workdir / "target")
    print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; warehouse {db}")
    cell = RunConfig(rounds=args.rounds, budget=args.budget, annotator="simulated", members=args.members,
                     simulated_accuracy=args.simulated_accuracy,
                     tuning_trials=args.tuning_trials, workers=args.workers, run_id="template",
                     candidate_source="sampler", catalog=CATALOG, train_labels=(SEED_DATASET,), pool_labels=(),
                     eval_labels=(EVAL_DATASET,))
    strategies = tuple(name.strip() for name in args.strategies.split(",") if name.strip())
    unknown = [name for name in strategies if name not in STRATEGIES]
    if unknown or not strategies:
        parser.error(f"--strategies: unknown {unknown}; choose from {', '.join(STRATEGIES)}")
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as error:
        parser.error(str(error))
    config = ExperimentConfig(experiment_id=args.experiment_id, strategies=strategies, seeds=seeds, cell=cell)
    try:
        con = warehouse.connect(db)
        try:
            if not is_set_up(con):
                set_up(con, args, workdir)
            seconds = run_experiment(con, config, log=print, show_progress=False)
            print(f"experiment {args.experiment_id}: {len(config.cells())} runs in {seconds / 60:.1f} min")
            print_tables(con, args.experiment_id)
        finally:
            con.close()
    except KarlError as error:
        sys.exit(f"catalog_rq2.py: {error}")


if __name__ == "__main__":
    main()
