"""A run's final ensemble as a model version: its stacked member weights (what the scan scores
with), the stored item-vector sets they index, and the training labels it was fitted on
(raw.model_versions, raw.model_training_labels). Recorded by the loop when the run's last round
trains; read by `karl predict`."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import duckdb
import numpy as np

from python_jobs.learning.scoring_sparse import PairLayout

# The training labels of round r of a run: the ID human labels, the run's LLM labels of earlier
# rounds and the review decisions (the predicate of loop/data.py's id_human_labels + added_labels).
TRAINING_LABEL_IDS_SQL = """
    select training_label_id
    from marts.fct_training_labels
    where label_source = 'human'
        or (label_source = 'llm' and run_id = ? and round_index < ?)
        or label_source = 'review'
    order by training_label_id
"""


@dataclass(frozen=True)
class ModelVersion:
    """A recorded ensemble, ready to score."""

    model_version: str
    run_id: str
    round_index: int
    n_members: int
    classes: tuple[str, ...]
    features: str
    feature_sets: dict[str, str]
    layout: PairLayout
    weights: np.ndarray   # (F, M*C) float32
    bias: np.ndarray      # (M*C,) float32


def weights_blob(weights: np.ndarray, bias: np.ndarray) -> bytes:
    """The stored form of the weights: a compressed npz of float32 W and b (most of W is zeros:
    vocabulary columns no training pair touches; ~1.8 MB instead of 11.5 for char13 on FBL)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, W=np.ascontiguousarray(weights, dtype=np.float32),
                        b=np.ascontiguousarray(bias, dtype=np.float32))
    return buffer.getvalue()


def weights_sha256(weights: np.ndarray, bias: np.ndarray) -> str:
    """sha256 of the float32 arrays and their shapes (not of the npz container, whose bytes may
    change with numpy or zlib): the same ensemble gives the same model version."""
    digest = hashlib.sha256()
    for array in (np.ascontiguousarray(weights, dtype=np.float32), np.ascontiguousarray(bias, dtype=np.float32)):
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def model_version_id(run_id: str, round_index: int, weights_sha256: str) -> str:
    return f"{run_id}:r{round_index:02d}:{weights_sha256[:12]}"


def record_model_version(con: duckdb.DuckDBPyConnection, run_id: str, round_index: int, weights: np.ndarray,
                         bias: np.ndarray, n_members: int, classes: list[str], features: str,
                         feature_sets: dict[str, str], layout: PairLayout, created_at: object) -> str:
    """Record an ensemble and its training labels (idempotent: the same weights record nothing
    new). Returns its model version."""
    blob = weights_blob(weights, bias)
    sha = weights_sha256(weights, bias)
    version = model_version_id(run_id, round_index, sha)
    label_ids = [row[0] for row in con.execute(TRAINING_LABEL_IDS_SQL, [run_id, round_index]).fetchall()]
    cursor = con.cursor()
    try:
        cursor.execute("begin transaction")
        cursor.execute(
            "insert into raw.model_versions values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing",
            [version, run_id, round_index, n_members, json.dumps(list(classes)), features,
             json.dumps(feature_sets, sort_keys=True), json.dumps(list(layout.blocks)), sha, blob, len(label_ids),
             created_at])
        if label_ids:
            # one statement: executemany runs one per label (~2 ms each, seconds for a few thousand)
            cursor.execute("insert into raw.model_training_labels select ?, unnest(?::varchar[]) on conflict do nothing",
                           [version, label_ids])
        cursor.execute("commit")
    except BaseException:
        cursor.execute("rollback")
        raise
    finally:
        cursor.close()
    return version


def load_model_version(con: duckdb.DuckDBPyConnection, model_version: str) -> ModelVersion:
    row = con.execute("""
        select model_version, run_id, round_index, n_members, classes_json, features, feature_sets_json,
               layout_json, weights_sha256, weights
        from raw.model_versions where model_version = ?
    """, [model_version]).fetchone()
    if row is None:
        raise KeyError(model_version)
    with np.load(io.BytesIO(bytes(row[9]))) as arrays:
        weights, bias = arrays["W"], arrays["b"]
    if weights_sha256(weights, bias) != row[8]:
        raise ValueError(f"the stored weights of model version {model_version} do not match their hash")
    return ModelVersion(model_version=row[0], run_id=row[1], round_index=int(row[2]), n_members=int(row[3]),
                        classes=tuple(json.loads(row[4])), features=row[5], feature_sets=json.loads(row[6]),
                        layout=PairLayout(blocks=tuple(json.loads(row[7]))), weights=weights, bias=bias)
