"""Helpers shared by the benchmark scripts: timing, and the memory scores of a result row."""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym

from stateful_rl.envs.reference_policies import memory_score

MEMORY_REFERENCES = ("random", "best_memoryless", "bayes")  # the memory score's scale


def add_memory_scores(result: dict[str, Any], references: dict[str, float]) -> None:
    """Adds ``references`` and the memory scores of ``result["kept"]`` and
    ``result["final"]`` (returns on the references' episodes) to a result row."""
    result["references"] = references
    for label in ("kept", "final"):
        result[f"memory_score_{label}"] = memory_score(
            result[label], references["best_memoryless"], references["bayes"]
        )


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
