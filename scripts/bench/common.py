"""Timing helpers shared by the ``bench_*`` scripts."""

from __future__ import annotations

import time

import gymnasium as gym


def steps_per_second(env: gym.Env, steps: int, seed: int = 0) -> float:
    """Random-action steps per wall second of a single env (resets included; the actions
    are drawn before the clock starts)."""
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)
