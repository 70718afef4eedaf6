"""Optional numba kernel for a single-sequence echo state run on CPU (when numba is installed).

One compiled loop over all time steps: CSR row products with four independent accumulators
(the run is memory-bound and one accumulator serialises on the add latency), fused with the
input term, tanh and the leak. Written by hand because no library runs a sparse recurrence
without a Python-level call per step (torch and scipy pay 5–10 µs per call, about a whole
step at N = 1000). For several sequences at once torch's CSR product is used instead: it
reads ``W`` once per step for all of them.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # numba is optional (the `bench` extra); torch is the fallback
    numba = None

AVAILABLE = numba is not None


def _leaky_reservoir_run(
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    drive: np.ndarray,
    keep: np.ndarray,
    alpha: float,
    h: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[t] = (1-α) k_t h + α tanh(drive[t] + k_t W h)`` with ``h`` the previous state.

    ``W`` in CSR (``rows``, ``cols``, ``values``, ``[N, N]``); ``drive[T, N]`` is
    ``W_in x_t + b``; ``keep[T]`` is 0 where an episode starts (state zeroed) else 1;
    ``h[N]`` is updated in place to the last state; ``out[T, N]``.
    """
    steps, units = drive.shape
    zero = values.dtype.type(0)
    for t in range(steps):
        prev = out[t - 1] if t > 0 else h
        k_t = keep[t]
        for i in range(units):
            a0 = a1 = a2 = a3 = zero
            k, end = rows[i], rows[i + 1]
            while k + 4 <= end:
                a0 += values[k] * prev[cols[k]]
                a1 += values[k + 1] * prev[cols[k + 1]]
                a2 += values[k + 2] * prev[cols[k + 2]]
                a3 += values[k + 3] * prev[cols[k + 3]]
                k += 4
            while k < end:
                a0 += values[k] * prev[cols[k]]
                k += 1
            old = k_t * prev[i]
            pre = drive[t, i] + k_t * ((a0 + a1) + (a2 + a3))
            out[t, i] = old + alpha * (np.tanh(pre) - old)
    if steps > 0:
        h[:] = out[steps - 1]


leaky_reservoir_run = (
    numba.njit(cache=True, nogil=True)(_leaky_reservoir_run) if AVAILABLE else None
)
