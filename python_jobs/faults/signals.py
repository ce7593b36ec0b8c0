"""SIGTERM (a service manager, `kill`, a CI timeout) handled like Ctrl-C: KeyboardInterrupt in the
main thread, so the run records itself as aborted, open transactions roll back and the
connection closes, instead of the process vanishing mid-write."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Callable

_received: list[int] = []


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    # Once only: a second SIGTERM while the first unwinds must not interrupt the clean-up.
    signal.signal(signum, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def install_sigterm_handler() -> Callable[[], None]:
    """Route SIGTERM to KeyboardInterrupt while a command runs; returns the undo (a test process
    running commands in-process keeps its own handler). Only the main thread may install handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    _received.clear()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def received_signal() -> int | None:
    """The signal that interrupted this invocation (SIGTERM), None for Ctrl-C or none."""
    return _received[-1] if _received else None
