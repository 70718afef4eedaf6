"""Registration of every ``stateful_rl/...`` id with Gymnasium (idempotent).

Entry points are strings fixed here, one per id, so registering imports neither torch nor
mujoco, and no keyword argument a user passes to ``gym.make`` can name code to import.
"""

from __future__ import annotations

import gymnasium as gym

from stateful_rl.envs.classic import CLASSIC_MEMORY_ENVS

NAMESPACE = "stateful_rl"


def register(name: str, **kwargs) -> None:
    """Register ``stateful_rl/<name>`` unless it is registered already."""
    env_id = f"{NAMESPACE}/{name}"
    if env_id not in gym.registry:
        gym.register(id=env_id, **kwargs)


def register_envs() -> None:
    """Register all environments of the package under the ``stateful_rl`` namespace."""
    register(
        "OccludedTracking-v0",
        entry_point="stateful_rl.envs.tracking:OccludedTrackingEnv",
        vector_entry_point="stateful_rl.envs.tracking:OccludedTrackingVectorEnv",
        max_episode_steps=200,
    )
    register(
        "OccludedCatch-v0",
        entry_point="stateful_rl.envs.catch:OccludedCatchEnv",
        vector_entry_point="stateful_rl.envs.catch:OccludedCatchVectorEnv",
    )
    for name, (entry_point, max_steps, threshold) in CLASSIC_MEMORY_ENVS.items():
        register(
            name, entry_point=entry_point, max_episode_steps=max_steps, reward_threshold=threshold
        )

    # Salamander ids (mujoco is imported only when one is made).
    from stateful_rl.envs.salamander.registration import register_salamander_envs

    register_salamander_envs()
