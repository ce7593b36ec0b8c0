"""The LLM judge (`karl judge`, the FBL paper's second question): the job that samples and
annotates human-labelled pairs (`job`), what the judge marts say (`marts`: `karl judge`'s tables,
`karl run --require-judge`, the report's frames) and the report's judge section
(`report_section`)."""

from python_jobs.judge.job import JUDGE_MODELS, JudgeSettings, JudgeStopped, SampledPair, run_judge, sample_pairs
from python_jobs.judge.marts import (
    JudgeFrames,
    JudgeMissing,
    agreement,
    confusion,
    few_shot_label,
    load_judge_frames,
    require_judge,
)

__all__ = [
    "JUDGE_MODELS", "JudgeFrames", "JudgeMissing", "JudgeSettings", "JudgeStopped", "SampledPair", "agreement",
    "confusion", "few_shot_label", "load_judge_frames", "require_judge", "run_judge", "sample_pairs",
]
