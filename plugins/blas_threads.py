"""One BLAS thread for loops of small matrix products.

The network and dropout code calls BLAS on many small matrices (a mini-batch
step, a 256×10 by 10×256 product per test point). Multi-threaded OpenBLAS
synchronises its threads on every call, and on a busy machine that cost more
than the products themselves: the exact dropout enumeration for 200 points ran
in 0.4 s on one thread and 4–9 s with the default threads (2 cores, load ~6).
``threadpoolctl`` (a scikit-learn dependency) sets the limit; without it this
is a no-op.
"""

from __future__ import annotations

import contextlib

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - optional
    threadpool_limits = None

__all__ = ["one_blas_thread"]


def one_blas_thread():
    """A context manager limiting BLAS to one thread (no-op without threadpoolctl)."""
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
