"""How a training env is brought back to where a checkpoint left it, without pickling it.

An environment is code and cannot be stored as data in general. A deterministic env is
fully determined by its construction, the seeds of its resets and the actions it was sent,
so the training loop records those (:class:`ActionLog`), and resuming builds the env
afresh from its registered id and replays them. The replay is checked against the last
observation stored with the checkpoint: an env that does not reproduce its trajectory from
its seed is reported instead of resumed silently differently.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class ActionLog:
    """Resets (with their seeds) and actions of a vector env, in order.

    ``actions[t]`` is the ``[N]`` action array of vector step ``t``; ``resets`` holds
    ``(t, seed)`` for each ``env.reset(seed=seed)`` made before step ``t``.
    """

    def __init__(self, n_envs: int) -> None:
        self.n_envs = n_envs
        self.actions = np.zeros((1024, n_envs), dtype=np.int64)
        self.length = 0
        self.resets: list[tuple[int, int | None]] = []

    def reset(self, seed: int | None) -> None:
        self.resets.append((self.length, seed))

    def step(self, actions: np.ndarray) -> None:
        if self.length == len(self.actions):  # amortised doubling
            self.actions = np.concatenate([self.actions, np.zeros_like(self.actions)])
        self.actions[self.length] = actions
        self.length += 1

    def compact(self) -> None:
        """Drop the unused tail of the action array (before saving)."""
        self.actions = self.actions[: max(self.length, 1)].copy()

    def replay(self, env: gym.vector.VectorEnv) -> Any:
        """Send ``env`` the same resets and actions; the last observation."""
        if env.num_envs != self.n_envs:
            raise ValueError(
                f"the log is for {self.n_envs} envs, got a vector env of {env.num_envs}"
            )
        ends = [t for t, _ in self.resets[1:]] + [self.length]
        obs = None
        for (start, seed), end in zip(self.resets, ends, strict=True):
            obs, _ = env.reset(seed=seed)
            for t in range(start, end):
                obs = env.step(self.actions[t])[0]
        return obs
