"""Peak resident memory of this process during a block, for the benchmarks."""

from __future__ import annotations

import threading
import time

import psutil


class PeakRss:
    """Samples this process's RSS every 5 ms; `growth_mb` is the peak minus the level at start,
    `phase_peak` the peak since the last `mark()` (for per-phase figures)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = self.peak = self.phase_peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self.process.memory_info().rss
            self.peak = max(self.peak, rss)
            self.phase_peak = max(self.phase_peak, rss)
            time.sleep(0.005)

    def mark(self) -> int:
        """Start a new phase; returns the RSS now."""
        self.phase_peak = self.process.memory_info().rss
        return self.phase_peak

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / 2**20
