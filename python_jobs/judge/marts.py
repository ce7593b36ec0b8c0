"""What the judge marts say (marts.rpt_judge_agreement, rpt_judge_confusion): one judge's
agreement rows and confusion grid for `karl judge`, every judge's frames for `karl report`, and
`require_judge` for `karl run --require-judge`, which refuses to spend a budget on a model +
prompt + few-shot setting that no complete judge has measured."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from python_jobs.annotation import prompt
from python_jobs.errors import KarlError


class JudgeMissing(KarlError):
    """--require-judge: no complete judge measured this model, prompt and few-shot setting."""


def few_shot_label(annotator) -> str:
    config = annotator.config
    return "none" if config.few_shot == "none" else f"{config.few_shot}:{config.few_shot_k}"


def agreement(con: duckdb.DuckDBPyConnection, judge_id: str) -> list[dict]:
    cursor = con.execute(
        "select * from marts.rpt_judge_agreement where judge_id = ? "
        "order by level desc, class_label = 'all' desc, class_label", [judge_id])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def confusion(con: duckdb.DuckDBPyConnection, judge_id: str, level: str) -> tuple[list[str], list[str], dict]:
    rows = con.execute(
        "select human_label, llm_label, human_order, llm_order, n_pairs from marts.rpt_judge_confusion "
        "where judge_id = ? and level = ?", [judge_id, level]).fetchall()
    humans = [h for h, _ in sorted({(r[0], r[2]) for r in rows}, key=lambda x: x[1])]
    llms = [m for m, _ in sorted({(r[1], r[3]) for r in rows}, key=lambda x: x[1])]
    return humans, llms, {(r[0], r[1]): r[4] for r in rows}


def require_judge(con: duckdb.DuckDBPyConnection, annotator) -> dict:
    """The latest complete judge of this model(s), prompt template and few-shot setting, with its
    3-class accuracy and kappa; JudgeMissing when there is none."""
    config = annotator.config
    row = con.execute(
        """
        select r.judge_id, r.completed_at, a.accuracy, a.cohens_kappa, a.n_pairs
        from raw.judge_runs as r
        left join marts.rpt_judge_agreement as a
            on a.judge_id = r.judge_id and a.level = 'relation3' and a.class_label = 'all'
        where r.status = 'complete' and r.models = ? and r.prompt_hash = ? and r.few_shot = ?
        order by r.completed_at desc limit 1
        """,
        [",".join(config.models()), prompt.template_hash(), few_shot_label(annotator)]).fetchone() if _has_marts(con) else None
    if row is None:
        raise JudgeMissing(
            f"--require-judge: no `karl judge` result for model {','.join(config.models())!r}, prompt "
            f"{prompt.PROMPT_VERSION} ({prompt.template_hash()}), few-shot {few_shot_label(annotator)}: "
            "run `karl judge` with the same settings first")
    return {"judge_id": row[0], "completed_at": row[1], "accuracy": row[2], "cohens_kappa": row[3], "n_pairs": row[4]}


def _has_marts(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = 'rpt_judge_agreement'"
    ).fetchone()[0])


@dataclass
class JudgeFrames:
    overall: pd.DataFrame
    per_class: pd.DataFrame
    confusion: pd.DataFrame
    latest: str | None


def load_judge_frames(con: duckdb.DuckDBPyConnection) -> JudgeFrames:
    try:
        agreement = con.execute(
            "select a.*, r.completed_at from marts.rpt_judge_agreement as a "
            "inner join raw.judge_runs as r using (judge_id) order by r.completed_at, a.judge_id, a.level desc, a.class_label"
        ).df()
        confusion = con.execute("select * from marts.rpt_judge_confusion order by judge_id, level, human_order, llm_order").df()
    except duckdb.Error:  # a warehouse built before the judge marts existed
        empty = pd.DataFrame()
        return JudgeFrames(empty, empty, empty, None)
    latest = agreement["judge_id"].iloc[-1] if not agreement.empty else None
    return JudgeFrames(
        overall=agreement[agreement["class_label"] == "all"],
        per_class=agreement[(agreement["class_label"] != "all") & (agreement["judge_id"] == latest)],
        confusion=confusion[confusion["judge_id"] == latest] if latest else confusion,
        latest=latest,
    )
