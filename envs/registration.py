"""Registration of every ``stateful_rl/...-v0`` id with Gymnasium (idempotent).

Entry points are strings, so registering imports neither torch nor mujoco.
"""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "stateful_rl"


def register(name: str, **kwargs) -> None:
    """Register ``stateful_rl/<name>`` unless it is registered already."""
    env_id = f"{NAMESPACE}/{name}"
    if env_id not in gym.registry:
        gym.register(id=env_id, **kwargs)


def register_envs() -> None:
    """Register all environments of the package under the ``stateful_rl`` namespace."""
    # Occluded tracking / catch / memory-wrapper ids: added here (foundation issue).

    # Salamander ids (mujoco is imported only when one is made).
    from stateful_rl.envs.salamander.registration import register_salamander_envs

    register_salamander_envs()
