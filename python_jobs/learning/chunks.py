"""One scored chunk of a candidate scan: the arrow batch, the members' probabilities and the
uncertainty, handed from the scorer's workers to the reducer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class ScoredChunk:
    """One chunk of scored candidates: the arrow batch as read (pair_key, fine_category, a_pos,
    b_pos; strings stay in arrow until a row is kept), the members' probabilities and, when
    asked for, the uncertainty per row. Item ids come from the positions (``item_ids``)."""

    batch: pa.RecordBatch
    member_proba: np.ndarray                 # (M, n, C)
    uncertainty: np.ndarray | None = None    # (n,)
    item_ids: np.ndarray | None = None       # item id by vector position
    contenders: list | None = None           # category_contenders(), when the scan was asked for them

    def column(self, name: str) -> np.ndarray:
        if name in ("item_a_id", "item_b_id") and name not in self.batch.schema.names:
            return self.item_ids[self.batch.column("a_pos" if name == "item_a_id" else "b_pos").to_numpy()]
        return self.batch.column(name).to_numpy(zero_copy_only=False)

    @property
    def pair_key(self) -> np.ndarray:
        return self.column("pair_key")

    @property
    def item_a_id(self) -> np.ndarray:
        return self.column("item_a_id")

    @property
    def item_b_id(self) -> np.ndarray:
        return self.column("item_b_id")

    @property
    def fine_category(self) -> np.ndarray:
        return self.column("fine_category")

    def fine_codes(self) -> tuple[np.ndarray, list]:
        """(int code per row, category per code): grouping without Python strings per row."""
        column = self.batch.column("fine_category")
        if column.null_count:
            column = pc.fill_null(column, "")
        encoded = pc.dictionary_encode(column)
        return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()
