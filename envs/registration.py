"""Registration of every ``stateful_rl/...`` id with Gymnasium (idempotent).

Entry points are strings fixed here, one per id, so registering imports neither torch nor
mujoco, and no keyword argument a user passes to ``gym.make`` can name code to import. The
env classes' defaults are their newest version; an older version is the same class with the
arguments it had, passed at registration.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from stateful_rl.envs.classic import CLASSIC_MEMORY_ENVS

NAMESPACE = "stateful_rl"
# The arguments that turn today's classes back into their older versions.
CATCH_V0: dict[str, Any] = {"hold_paddle": False}
TRACKING_V0: dict[str, Any] = {"window_rate": 0.03, "window_length": (10, 30)}


def register(name: str, **kwargs) -> None:
    """Register ``stateful_rl/<name>`` unless it is registered already."""
    env_id = f"{NAMESPACE}/{name}"
    if env_id not in gym.registry:
        gym.register(id=env_id, **kwargs)


def register_envs() -> None:
    """Register all environments of the package under the ``stateful_rl`` namespace."""
    for name, kwargs in (("OccludedTracking-v0", TRACKING_V0), ("OccludedTracking-v1", {})):
        register(
            name,
            entry_point="stateful_rl.envs.tracking:OccludedTrackingEnv",
            vector_entry_point="stateful_rl.envs.tracking:OccludedTrackingVectorEnv",
            max_episode_steps=200,
            kwargs=kwargs,
        )
    for name, kwargs in (("OccludedCatch-v0", CATCH_V0), ("OccludedCatch-v1", {})):
        register(
            name,
            entry_point="stateful_rl.envs.catch:OccludedCatchEnv",
            vector_entry_point="stateful_rl.envs.catch:OccludedCatchVectorEnv",
            kwargs=kwargs,
        )
    for name, (entry_point, max_steps, threshold) in CLASSIC_MEMORY_ENVS.items():
        register(
            name, entry_point=entry_point, max_episode_steps=max_steps, reward_threshold=threshold
        )

    # Salamander ids (mujoco is imported only when one is made).
    from stateful_rl.envs.salamander.registration import register_salamander_envs

    register_salamander_envs()
