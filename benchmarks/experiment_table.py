"""The learning-curve table of a `karl experiment`, from its marts: per strategy, mean ± sd over
the complete runs (every split × seed) of round-0 OOD, OOD at the middle and the last round, the
ceiling, the normalised area under the OOD curve and the labels spent to reach 50% / 80% of the
ceiling's gain; then each strategy against a baseline, paired by split and seed (mean ± sd, standard
error, wins).

    .venv/bin/python benchmarks/experiment_table.py --experiment-id fbl-table [--db FILE] [--baseline random]
        [--plot FILE.png]

--plot writes the report's learning-curve panel (OOD against labels acquired, mean ± sd per
strategy, with the ceiling and floor; and the share of the ceiling's gain) for the complete runs.

Only cells where every strategy finished its last round are counted, so a half-finished
experiment still gives paired figures. Reads a built warehouse (`karl build` or the experiment's
closing build) read-only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from python_jobs.reporting.plots import ceiling_curves  # noqa: E402
from python_jobs.reporting.report_data import learning_curves  # noqa: E402

RUNS_SQL = """
    select run_id, strategy, seed, coalesce(split_seed, -1) as split_seed, last_round_index,
           ood_macro_f1_round0, ood_macro_f1_final, ceiling_ood_macro_f1, n_ceiling_pool_labels,
           normalised_ood_area, labels_to_half_ceiling_gain, labels_to_80pct_ceiling_gain
    from marts.fct_experiment_runs where experiment_id = ?
"""
ROUND_SQL = """
    select run_id, ood_macro_f1 from marts.fct_experiment_rounds where experiment_id = ? and round_index = ?
"""
PAIRED = (("ood_middle", "OOD mid"), ("ood_macro_f1_final", "OOD last"), ("normalised_ood_area", "normalised area"))


def complete_runs(con: duckdb.DuckDBPyConnection, experiment_id: str) -> pd.DataFrame:
    """The experiment's runs that reached its last round, in cells (split × seed) where every
    strategy did; with `ood_middle`, the OOD of the middle round."""
    runs = con.execute(RUNS_SQL, [experiment_id]).df()
    if runs.empty:
        return runs
    last = int(runs.last_round_index.max())
    runs = runs[runs.last_round_index == last]
    middle = con.execute(ROUND_SQL, [experiment_id, last // 2]).df().rename(columns={"ood_macro_f1": "ood_middle"})
    runs = runs.merge(middle, on="run_id", how="left")
    strategies = runs.strategy.nunique()
    cells = runs.groupby(["split_seed", "seed"]).strategy.nunique()
    complete = cells[cells == strategies].index
    runs = runs.set_index(["split_seed", "seed"]).loc[complete].reset_index()
    return runs.assign(last_round=last)


def _spread(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "-"
    return f"{values.mean():.3f} ± {values.std():.3f}" if len(values) > 1 else f"{values.mean():.3f}"


def _labels(values: pd.Series) -> str:
    reached = values.dropna()
    return f"{reached.mean():.0f} ({len(reached)} of {len(values)})" if len(reached) else f"- (0 of {len(values)})"


def strategy_table(runs: pd.DataFrame) -> pd.DataFrame:
    last = int(runs.last_round.iloc[0])
    rows = []
    for strategy, group in runs.groupby("strategy"):
        rows.append({"strategy": strategy, "runs": len(group), "OOD r0": _spread(group.ood_macro_f1_round0),
                     f"OOD r{last // 2}": _spread(group.ood_middle), f"OOD r{last}": _spread(group.ood_macro_f1_final),
                     "ceiling": _spread(group.ceiling_ood_macro_f1), "normalised area": _spread(group.normalised_ood_area),
                     "labels to 50%": _labels(group.labels_to_half_ceiling_gain),
                     "labels to 80%": _labels(group.labels_to_80pct_ceiling_gain)})
    return pd.DataFrame(rows)


def paired_table(runs: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each strategy minus the baseline, paired by split and seed: mean ± sd (se, wins of n)."""
    if baseline not in set(runs.strategy):
        return pd.DataFrame()
    wide = runs.pivot_table(index=["split_seed", "seed"], columns="strategy", values=[name for name, _ in PAIRED])
    rows = []
    for strategy in sorted(set(runs.strategy) - {baseline}):
        row = {"pair": f"{strategy} − {baseline}"}
        for column, title in PAIRED:
            difference = (wide[column][strategy] - wide[column][baseline]).dropna()
            if difference.empty:
                row[title] = "-"
                continue
            wins = f"{int((difference > 0).sum())}/{len(difference)} wins"
            if len(difference) == 1:
                row[title] = f"{difference.mean():+.3f} ({wins})"
                continue
            se = difference.std() / len(difference) ** 0.5
            row[title] = f"{difference.mean():+.3f} ± {difference.std():.3f} (se {se:.3f}, {wins})"
        rows.append(row)
    return pd.DataFrame(rows)


def print_tables(con: duckdb.DuckDBPyConnection, experiment_id: str, baseline: str = "random") -> pd.DataFrame:
    runs = complete_runs(con, experiment_id)
    if runs.empty:
        print(f"experiment {experiment_id}: no complete runs in marts.fct_experiment_runs")
        return runs
    cells = runs.groupby("split_seed").seed.nunique().to_dict()
    print(f"experiment {experiment_id}: {len(runs)} complete runs, {runs.strategy.nunique()} strategies, "
          f"{int(runs.last_round.iloc[0])} rounds, seeds per split {cells}; "
          f"ceiling pool {int(runs.n_ceiling_pool_labels.max()) if runs.n_ceiling_pool_labels.notna().any() else 0:,} labels")
    print(strategy_table(runs).to_markdown(index=False))
    paired = paired_table(runs, baseline)
    if not paired.empty:
        print()
        print(paired.to_markdown(index=False))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment-id", required=True)
    parser.add_argument("--db", type=Path, default=Path(os.environ.get("KARL_DUCKDB_PATH", "warehouse/karl.duckdb")))
    parser.add_argument("--baseline", default="random")
    parser.add_argument("--plot", type=Path, default=None, help="write the learning-curve panel (PNG) here")
    args = parser.parse_args()
    if not args.db.exists():
        sys.exit(f"{args.db}: no such warehouse")
    try:
        con = duckdb.connect(str(args.db), read_only=True)
    except duckdb.Error as error:
        sys.exit(f"{args.db}: cannot be read ({error}); is another process writing it, or is it not a DuckDB file?")
    with con:
        try:
            runs = print_tables(con, args.experiment_id, args.baseline)
        except duckdb.CatalogException:
            sys.exit(f"{args.db}: no marts.fct_experiment_runs; run `karl experiment` (or `karl build`) on it first")
        if args.plot is not None and not runs.empty:
            write_plot(con, list(runs.run_id), args.plot)


def write_plot(con: duckdb.DuckDBPyConnection, run_ids: list[str], path: Path) -> None:
    path.write_bytes(ceiling_curves(learning_curves(con, run_ids)))
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
