"""Arithmetic kernels shared by the single and the native vector environments.

Written with ``+ - *`` and comparisons only, so the same function runs on Python floats
(single env: no numpy call overhead per step) and on numpy arrays (vector env: one call
for the whole batch), and both give bit-identical trajectories.
"""

from __future__ import annotations

from typing import Any, TypeVar

from numpy.typing import NDArray

# Python floats (ints promote) or numpy arrays: the kernels run unchanged on either.
X = TypeVar("X", float, NDArray[Any])


def clip(x: X, low: float, high: float) -> X:
    """``x`` clipped to ``[low, high]`` (float or array)."""
    return x - (x > high) * (x - high) - (x < low) * (x - low)


def reflect(pos: X, vel: X, low, high) -> tuple[X, X]:
    """Mirror ``pos`` back into ``[low, high]`` and flip ``vel`` where it was reflected.

    ``low`` and ``high`` may be floats or arrays broadcasting against ``pos``; one
    reflection per call, enough when a step moves less than ``high - low``.
    """
    above = pos > high
    below = pos < low
    pos = pos - above * 2 * (pos - high) - below * 2 * (pos - low)
    return pos, vel - (above | below) * 2 * vel
