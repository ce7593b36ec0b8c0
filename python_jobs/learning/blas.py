"""One-thread BLAS for the duration of a block, cheaply.

`threadpoolctl.threadpool_limits` scans the process's loaded libraries on every call (~2.4 ms
here); a round makes ~70 such calls (every member fit, every scoring chunk). A controller made
once and reused limits in ~15 us.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager


@functools.cache
def _controller():  # noqa: ANN202 - threadpoolctl.ThreadpoolController
    import numpy  # noqa: F401 - load both BLAS libraries before the controller looks for them
    import scipy.linalg  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_threaded() -> AbstractContextManager:
    """Limit every BLAS/OpenMP pool to one thread inside the block (restored after)."""
    return _controller().limit(limits=1)
