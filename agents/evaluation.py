"""Vectorised evaluation with one seed per episode (what the agents use to keep their best model).

Hand-written because SB3's ``evaluate_policy`` steps its episodes through an SB3 VecEnv
without per-episode seeds; here every episode is reset with its own seed and up to
``max_parallel`` episodes run in one batch of ``predict`` calls. The agents still work
with ``evaluate_policy`` (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray


class Predictor(Protocol):
    def predict(self, obs, state=None, episode_start=None, deterministic=True): ...


def evaluate_episodes(
    agent: Predictor,
    make_env: Callable[[], gym.Env],
    seeds: Sequence[int] | NDArray[np.integer],
    deterministic: bool = True,
    max_parallel: int = 32,
    vector_env: gym.vector.SyncVectorEnv | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one episode per seed; returns (episode returns, episode lengths), each ``[len(seeds)]``.

    ``vector_env`` (optional) is reused between calls; it must hold ``min(len(seeds),
    max_parallel)`` copies of ``make_env()`` (see :func:`make_eval_vector_env`).
    """
    seeds = [int(s) for s in seeds]
    n_par = min(len(seeds), max_parallel)
    env = vector_env or make_eval_vector_env(make_env, n_par)
    if env.num_envs != n_par:
        raise ValueError(f"vector_env has {env.num_envs} envs, need {n_par}")
    returns, lengths = [], []
    for lo in range(0, len(seeds), n_par):
        wave: list[int | None] = list(seeds[lo : lo + n_par])
        wave += [wave[-1]] * (n_par - len(wave))  # pad: extra envs are ignored
        obs, _ = env.reset(seed=wave)
        state, start = None, np.ones(n_par, dtype=bool)
        running = np.ones(n_par, dtype=bool)
        ret, length = np.zeros(n_par), np.zeros(n_par, dtype=np.int64)
        while running.any():
            actions, state = agent.predict(obs, state, start, deterministic)
            obs, reward, terminated, truncated, _ = env.step(actions)
            ret += np.where(running, reward, 0.0)
            length += running
            running &= ~(terminated | truncated)
            start = np.zeros(n_par, dtype=bool)
        take = min(n_par, len(seeds) - lo)
        returns.append(ret[:take])
        lengths.append(length[:take])
    if vector_env is None:
        env.close()
    return np.concatenate(returns), np.concatenate(lengths)


def make_eval_vector_env(make_env: Callable[[], gym.Env], n: int) -> gym.vector.SyncVectorEnv:
    """``n`` copies of ``make_env()`` in one synchronous vector env."""
    return gym.vector.SyncVectorEnv([make_env for _ in range(n)])
