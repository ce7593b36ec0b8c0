"""Every benchmark runs at a tiny size in seconds (figures are not checked: benchmarks print them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


def test_predict_throughput_smoke() -> None:
    """benchmarks/predict_throughput.py --smoke: `karl predict` over 2,000 synthetic candidates."""
    result = subprocess.run([sys.executable, str(BENCHMARKS / "predict_throughput.py"), "--smoke"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2,000 |" in result.stdout and "again:" in result.stdout
