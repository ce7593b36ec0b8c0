"""The relation classes, in the one order every array, model and plot uses: read from the seed
(seeds/relation_classes.csv, ordered by relation_code) that dbt loads too."""

from __future__ import annotations

import csv
from pathlib import Path

SEED_FILE = Path(__file__).resolve().parents[1] / "seeds" / "relation_classes.csv"


def _relation_classes() -> tuple[str, ...]:
    with SEED_FILE.open(encoding="utf-8", newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: int(row["relation_code"]))
    return tuple(row["relation_class"] for row in rows)


RELATION_CLASSES: tuple[str, ...] = _relation_classes()  # ('substitute', 'complement', 'other')


FBL_SEED_FILE = SEED_FILE.with_name("fbl_classes.csv")


def _fbl_relation() -> dict[int, str]:
    with FBL_SEED_FILE.open(encoding="utf-8", newline="") as handle:
        return {int(row["fbl_code"]): row["relation_class"] for row in csv.DictReader(handle)}


FBL_RELATION: dict[int, str] = _fbl_relation()  # 9-class code -> its relation class (seeds/fbl_classes.csv)
