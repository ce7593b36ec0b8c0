"""Which protocol chooses the model for the domain the labels come from (issue 23): the ID
protocols side by side, and the OOD of what each picks, over an experiment's pool/test splits.

For every split of the experiment (`karl experiment --splits K`) and each of the rounds asked,
the labels one strategy's run had acquired before that round (`marts.fct_consensus_labels`,
accepted labels of rounds < r) are read, and every SPEC is measured four ways:

- shuffled: 5-fold stratified CV over the seed (train datasets') human labels;
- item-disjoint: the same, folds grouped by anchor item;
- acquired: 5-fold stratified CV over the acquired labels, each fold trained on the seed labels
  plus the other acquired folds and scored only on its held-out acquired labels (from 20 acquired
  labels on; before that it picks what the shuffled CV picks);
- OOD: a bag trained on the seed plus all acquired labels, scored on the split's test half.

Each protocol picks the SPEC with its highest figure; OOD chooses nothing and only reports what
each pick reaches, next to the first SPEC (the fixed default). The split's test half comes from
rebuilding `fct_eval_sets` with the split seed, so run it on a copy of the experiment's warehouse.

    KARL_DUCKDB_PATH=copy.duckdb python benchmarks/feature_research/protocols.py --experiment splits \\
        [--strategy margin] [--seed 0] [--rounds 0,5,10,20] SPEC [SPEC ...]
SPEC as in measure.py (FEATURES@C@MEMBERS); the first SPEC is the fixed default.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import scipy.sparse as sp
from measure import bag_proba, cv_macro_f1, parse_spec
from research_warehouse import open_built_warehouse
from sklearn.model_selection import StratifiedKFold

from python_jobs.features.sets import prepare_pair_features, stack_rows
from python_jobs.learning.evaluation import classification_metrics
from python_jobs.learning.logreg import encode_labels
from python_jobs.loop import data as loop_data
from python_jobs.warehouse.connection import default_db_path
from python_jobs.warehouse.dbt_runner import run_dbt

PROTOCOLS = ("shuffled", "item-disjoint", "acquired")
MIN_ACQUIRED = 20


def acquired_cv(X_seed, y_seed: np.ndarray, X_acq, y_acq: np.ndarray, C: float, members: str) -> float:  # noqa: ANN001
    """5-fold CV scored only on held-out acquired labels; training folds: seed + the other acquired folds."""
    folds = min(5, int(np.bincount(y_acq).max()))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
    scores = []
    for fold, (train, test) in enumerate(splitter.split(np.zeros(len(y_acq)), y_acq)):
        X_train = stack_rows([X_seed, X_acq[train]])
        proba = bag_proba(X_train, np.concatenate([y_seed, y_acq[train]]), X_acq[test], C, members, fold)
        scores.append(classification_metrics(y_acq[test], proba.argmax(1))["macro_f1"])
    return float(np.mean(scores))


def experiment_runs(con, experiment: str, strategy: str, seed: int) -> list[tuple[str, int]]:  # noqa: ANN001
    rows = con.execute("""
        select run_id, cast(json_extract_string(config_json, '$.split_seed') as integer)
        from raw.runs
        where run_id like ? and strategy = ? and seed = ?
          and json_extract_string(config_json, '$.split_seed') is not null
        order by 2""", [f"{experiment}-%", strategy, seed]).fetchall()
    if not rows:
        sys.exit(f"no runs of experiment {experiment!r} with strategy {strategy} and seed {seed} recorded a split "
                 "seed: run `karl experiment --splits K` first")
    return [(run_id, int(split)) for run_id, split in rows]


def acquired_before(con, run_id: str, round_index: int) -> loop_data.LabelledPairs:  # noqa: ANN001
    """The LLM labels the run had accepted before the round. Read from the consensus, not from
    fct_training_labels: that table holds the last-built split's view, which drops every label
    that falls in that split's test half (about half of another split's labels)."""
    return loop_data.LabelledPairs.from_frame(con.execute("""
        select pair_key, item_a_id, item_b_id, relation_label from marts.fct_consensus_labels
        where run_id = ? and is_accepted and round_index < ? order by pair_key""",
        [run_id, round_index]).df())


def pm(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--strategy", default="margin")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", default="0,5,10,20")
    parser.add_argument("specs", nargs="+", metavar="SPEC")
    options = parser.parse_args(argv)
    specs = [parse_spec(spec) for spec in options.specs]
    try:
        rounds = sorted({int(part) for part in options.rounds.split(",")})
    except ValueError:
        sys.exit(f"--rounds {options.rounds!r}: round numbers separated by commas, e.g. 0,5,10,20")
    started = time.perf_counter()
    con = open_built_warehouse()
    runs = experiment_runs(con, options.experiment, options.strategy, options.seed)
    seed_labels = loop_data.id_human_labels(con)
    y_seed = encode_labels(seed_labels.labels)
    anchors = np.asarray(seed_labels.item_a_ids)
    rows = {spec: prepare_pair_features(con, features) for spec, (features, _, _) in zip(options.specs, specs)}

    def matrix(spec: str, pairs: loop_data.LabelledPairs):  # noqa: ANN202 - sparse or dense rows
        X = rows[spec].pair_matrix(pairs.item_a_ids, pairs.item_b_ids)
        return X if sp.issparse(X) else np.asarray(X)

    print(f"{len(runs)} splits ({', '.join(str(split) for _, split in runs)}), {options.strategy} seed {options.seed}, "
          f"{len(y_seed)} seed labels; SPECs {', '.join(options.specs)}", flush=True)
    id_figures = {"shuffled": {}, "item-disjoint": {}}
    for spec, (_, C, members) in zip(options.specs, specs):
        X_seed = matrix(spec, seed_labels)
        id_figures["shuffled"][spec] = cv_macro_f1(X_seed, y_seed, None, C, members)
        id_figures["item-disjoint"][spec] = cv_macro_f1(X_seed, y_seed, anchors, C, members)
        print(f"  {spec:28s} shuffled ID {id_figures['shuffled'][spec]:.3f}  item-disjoint ID "
              f"{id_figures['item-disjoint'][spec]:.3f}", flush=True)

    # results[round][split] = {"ood": {spec: f1}, "acquired": {spec: f1 or None}, "n_acquired": n}
    results: dict[int, dict[int, dict]] = {r: {} for r in rounds}
    db_path = default_db_path()
    for run_id, split in runs:
        # run, not build: the warehouse's training labels hold every split's acquired pairs, so the
        # no-test-pair-in-training test fails for all splits but the last built
        run_dbt(["run", "--select", "fct_eval_sets"], db_path=db_path, dbt_vars={"karl_split_seed": split})
        test = loop_data.ood_test_labels(con)
        y_test = encode_labels(test.labels)
        for r in rounds:
            acquired = acquired_before(con, run_id, r)
            y_acq = encode_labels(acquired.labels) if len(acquired.labels) else np.zeros(0, dtype=int)
            cell = {"ood": {}, "acquired": {}, "n_acquired": len(y_acq)}
            for spec, (_, C, members) in zip(options.specs, specs):
                X_seed, X_test = matrix(spec, seed_labels), matrix(spec, test)
                if len(y_acq):
                    X_acq = matrix(spec, acquired)
                    X_train, y_train = stack_rows([X_seed, X_acq]), np.concatenate([y_seed, y_acq])
                else:
                    X_acq, X_train, y_train = None, X_seed, y_seed
                proba = bag_proba(X_train, y_train, X_test, C, members, 0)
                cell["ood"][spec] = classification_metrics(y_test, proba.argmax(1))["macro_f1"]
                cell["acquired"][spec] = (acquired_cv(X_seed, y_seed, X_acq, y_acq, C, members)
                                          if len(y_acq) >= MIN_ACQUIRED else None)
            results[r][split] = cell
            print(f"  split {split} round {r:>2}: {cell['n_acquired']:>4} acquired | OOD "
                  + "  ".join(f"{spec} {cell['ood'][spec]:.3f}" for spec in options.specs)
                  + (" | acquired CV " + "  ".join(f"{spec} {cell['acquired'][spec]:.3f}" for spec in options.specs)
                     if cell["acquired"][options.specs[0]] is not None else ""), flush=True)

    default = options.specs[0]
    print(f"\nround | protocol      | its ID figure  | picks | OOD of the pick | pick - default ({default})")
    for r in rounds:
        for protocol in PROTOCOLS:
            picks, figures, ood, gain = [], [], [], []
            for split, cell in results[r].items():
                scores = (cell["acquired"] if protocol == "acquired" and cell["acquired"][default] is not None
                          else id_figures["item-disjoint" if protocol == "item-disjoint" else "shuffled"])
                pick = max(options.specs, key=lambda spec: scores[spec])
                picks.append(pick)
                figures.append(scores[pick])
                ood.append(cell["ood"][pick])
                gain.append(cell["ood"][pick] - cell["ood"][default])
            counts = ", ".join(f"{spec} x{picks.count(spec)}" for spec in options.specs if picks.count(spec))
            print(f"{r:>5} | {protocol:13s} | {pm(figures)} | {counts} | {pm(ood)} | {pm(gain)}")
        for spec in options.specs:
            print(f"{r:>5} | (fixed) {spec:28s} OOD {pm([cell['ood'][spec] for cell in results[r].values()])}")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
