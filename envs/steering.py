"""Turning a goal position into one of an env's discrete moves (shared by the references)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def greedy_actions(moves: NDArray, agent: NDArray, goal: NDArray) -> NDArray[np.int64]:
    """The action whose move brings ``agent[B, dim]`` closest to ``goal[B, dim]``
    (``moves[n_actions, dim]``)."""
    after = agent[:, None, :] + moves[None, :, :]
    return np.argmin(((after - goal[:, None, :]) ** 2).sum(axis=2), axis=1)
