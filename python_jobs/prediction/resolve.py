"""Which model version and which candidate pairs `karl predict` scores: a run's final model
(default: the latest completed run's), a catalogue's item namespaces. Refusals are KarlErrors."""

from __future__ import annotations

import duckdb

from python_jobs.errors import KarlError


class PredictionRefused(KarlError):
    """`karl predict` cannot run on this input (unknown run or catalogue, no completed run)."""


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name]).fetchall()[0][0])


def model_version_of_run(con: duckdb.DuckDBPyConnection, run_id: str | None) -> str:
    """The model version of a run's final round (the latest completed run's without ``run_id``).
    A run is completed when the round its final model comes from has been evaluated."""
    completed = con.execute("""
        with finals as (
            select run_id, max(round_index) as round_index
            from raw.model_versions
            group by run_id
        )
        select m.model_version
        from raw.model_versions as m
        inner join finals as f on m.run_id = f.run_id and m.round_index = f.round_index
        inner join raw.runs as r on m.run_id = r.run_id
        where exists (
                select 1 from raw.run_steps as s
                where s.run_id = m.run_id and s.round_index = m.round_index and s.step = 'evaluate')
            and (cast(? as varchar) is null or m.run_id = ?)
        order by r.created_at desc, m.created_at desc, m.model_version desc
        limit 1
    """, [run_id, run_id]).fetchall()
    if completed:
        return str(completed[0][0])
    if run_id is None:
        raise PredictionRefused(
            "No completed run with a recorded model in this warehouse: finish a run first (`karl run ...`).")
    known = con.execute("select count(*) from raw.runs where run_id = ?", [run_id]).fetchall()[0][0]
    if not known:
        raise PredictionRefused(f"No run {run_id!r} in this warehouse (see `karl status`).")
    evaluated = con.execute("select count(*) from raw.run_steps where run_id = ? and step = 'evaluate'",
                            [run_id]).fetchall()[0][0]
    if not evaluated:
        raise PredictionRefused(
            f"Run {run_id!r} has not completed a round: finish it first (`karl run --resume {run_id}`).")
    raise PredictionRefused(
        f"Run {run_id!r} has no recorded final model: it has not finished its last round (`karl run --resume "
        f"{run_id}`), its members are not linear on one item-vector set (karl predict scores svd, embeddings "
        "or char13 logreg members), or it ended before karl recorded models.")


def catalog_namespaces(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    """The item-id namespaces (the part before ':') of a catalogue, named by its catalogue name
    (marts.dim_items.catalog, e.g. 'fbl') or by the namespace itself (e.g. 'askul')."""
    if not table_exists(con, "marts", "dim_items"):
        raise PredictionRefused("The warehouse has no marts yet: run `karl build` first.")
    rows = con.execute("""
        select distinct split_part(item_id, ':', 1) as namespace
        from marts.dim_items
        where catalog = ? or split_part(item_id, ':', 1) = ?
        order by namespace
    """, [catalog, catalog]).fetchall()
    if not rows:
        names = [r[0] for r in con.execute("select distinct catalog from marts.dim_items order by 1").fetchall()]
        raise PredictionRefused(f"No catalogue {catalog!r} in this warehouse (catalogues: {', '.join(names) or 'none'}).")
    return [r[0] for r in rows]


def candidate_sql(namespaces: list[str] | None, model_version: str | None = None) -> tuple[str, list]:
    """Candidate pairs (pair_key, item_a_id, item_b_id, fine_category) in scope, with their
    parameters: both items in the namespaces when given and, with ``model_version``, minus the
    pairs that version has predicted already (raw.pair_predictions' natural key)."""
    conditions: list[str] = []
    params: list = []
    if namespaces:
        marks = ", ".join("?" for _ in namespaces)
        conditions += [f"split_part(c.item_a_id, ':', 1) in ({marks})", f"split_part(c.item_b_id, ':', 1) in ({marks})"]
        params += list(namespaces) + list(namespaces)
    if model_version is not None:
        conditions.append("not exists (select 1 from raw.pair_predictions as p "
                          "where p.model_version = ? and p.pair_key = c.pair_key)")
        params.append(model_version)
    where = f" where {' and '.join(conditions)}" if conditions else ""
    return ("select c.pair_key, c.item_a_id, c.item_b_id, c.fine_category "
            f"from marts.fct_candidate_pairs as c{where}"), params
