"""Reference policies that bound the memory gap of the tracking and catch environments.

``random`` (uniform actions), ``memoryless`` (moves toward the target it sees now, holds
still while it is occluded), ``kalman`` (acts on a Kalman estimate from the true dynamics
model) and ``oracle`` (reads the true state from ``info``). Every later agent is scored by
``memory_score = (R - R_memoryless) / (R_oracle - R_memoryless)``.

They act on a native vector env (one numpy call per step for the whole batch) and use the
env's ``task`` object: ``moves``, ``split_obs``, ``true_state``, ``goal``,
``kalman_filter``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

POLICIES = ("random", "memoryless", "kalman", "oracle")


def greedy_actions(moves: NDArray, agent: NDArray, goal: NDArray) -> NDArray[np.int64]:
    """The action whose move brings ``agent[B, dim]`` closest to ``goal[B, dim]``."""
    after = agent[:, None, :] + moves[None, :, :]
    return np.argmin(((after - goal[:, None, :]) ** 2).sum(axis=2), axis=1)


class ReferencePolicy:
    """Acts on a batch; ``act(obs, info, episode_start)`` -> ``actions[B]``."""

    def __init__(self, task: Any, num_envs: int, seed: int = 0) -> None:
        self.task = task
        self.moves = np.asarray(task.moves)
        self.stay = int(np.argmin(np.abs(self.moves).sum(axis=1)))
        self.rng = np.random.default_rng(seed)
        self.steps = np.zeros(num_envs, dtype=np.int64)  # steps since the episode started

    def act(self, obs: NDArray, info: dict[str, Any], episode_start: NDArray) -> NDArray:
        self.steps = np.where(episode_start, 0, self.steps)
        actions = self._act(obs, info, episode_start)
        self.steps += 1
        return actions

    def _act(self, obs: NDArray, info: dict[str, Any], episode_start: NDArray) -> NDArray:
        raise NotImplementedError


class RandomPolicy(ReferencePolicy):
    def _act(self, obs, info, episode_start):
        return self.rng.integers(len(self.moves), size=len(obs))


class MemorylessPolicy(ReferencePolicy):
    """Moves toward the currently seen target; holds still while it is occluded."""

    def _act(self, obs, info, episode_start):
        agent, seen, visible = self.task.split_obs(obs)
        return np.where(visible, greedy_actions(self.moves, agent, seen), self.stay)


class OraclePolicy(ReferencePolicy):
    """Moves toward the goal computed from the true state in ``info``."""

    def _act(self, obs, info, episode_start):
        agent = self.task.split_obs(obs)[0]
        goal = self.task.goal(self.task.true_state(info), self.steps)
        return greedy_actions(self.moves, agent, goal)


class KalmanPolicy(ReferencePolicy):
    """Moves toward the goal computed from a Kalman estimate (true dynamics model)."""

    def __init__(self, task: Any, num_envs: int, seed: int = 0) -> None:
        super().__init__(task, num_envs, seed)
        self.filter = task.kalman_filter()
        self.belief = self.filter.initial_state(num_envs)

    def _act(self, obs, info, episode_start):
        agent, seen, visible = self.task.split_obs(obs)
        belief = self.filter.reset_where(self.belief, episode_start)
        belief = self.filter.update(belief, seen, visible)
        goal = self.task.goal(belief.mean, self.steps)
        self.belief = self.filter.predict(belief)
        return greedy_actions(self.moves, agent, goal)


POLICY_CLASSES = {
    "random": RandomPolicy,
    "memoryless": MemorylessPolicy,
    "kalman": KalmanPolicy,
    "oracle": OraclePolicy,
}


def memory_score(ret: float, ret_memoryless: float, ret_oracle: float) -> float:
    """``(R - R_memoryless) / (R_oracle - R_memoryless)``: 0 memoryless, 1 oracle."""
    gap = ret_oracle - ret_memoryless
    if gap <= 0:
        raise ValueError(f"no memory gap: oracle {ret_oracle} <= memoryless {ret_memoryless}")
    return (ret - ret_memoryless) / gap


def episode_returns(
    env_id: str, policy: str, n_episodes: int = 100, seed: int = 0, **env_kwargs: Any
) -> NDArray[np.float64]:
    """Returns ``[n_episodes]`` of one reference policy (one episode per sub-env, seeds
    ``seed .. seed + n_episodes - 1``, the same for every policy)."""
    if policy not in POLICY_CLASSES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    env = gym.make_vec(
        env_id, num_envs=n_episodes, vectorization_mode="vector_entry_point", **env_kwargs
    )
    agent = POLICY_CLASSES[policy](env.unwrapped.task, n_episodes, seed)
    obs, info = env.reset(seed=seed)
    returns = np.zeros(n_episodes)
    finished = np.zeros(n_episodes, dtype=bool)
    start = np.ones(n_episodes, dtype=bool)
    while not finished.all():
        obs, reward, terminated, truncated, info = env.step(agent.act(obs, info, start))
        returns += np.where(finished, 0.0, reward)
        start = terminated | truncated
        finished |= start
    env.close()
    return returns


def evaluate_reference_policies(
    env_id: str, n_episodes: int = 100, seed: int = 0, **env_kwargs: Any
) -> dict[str, tuple[float, float]]:
    """``{policy: (mean return, std)}`` of every reference policy on ``env_id``."""
    results = {}
    for name in POLICIES:
        returns = episode_returns(env_id, name, n_episodes, seed, **env_kwargs)
        results[name] = (float(returns.mean()), float(returns.std()))
    return results
