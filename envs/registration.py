"""Registration of every ``stateful_rl/...-v0`` id with Gymnasium (idempotent).

Entry points are strings, so registering imports neither torch nor mujoco.
"""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "stateful_rl"
CLASSIC = "gymnasium.envs.classic_control"

# id -> (base entry point, wrapper, wrapper kwargs, max_episode_steps, reward_threshold)
MEMORY_ENVS = {
    # CartPole observation: x, x_dot, theta, theta_dot -> keep x and theta.
    "CartPoleNoVel-v0": (f"{CLASSIC}.cartpole:CartPoleEnv", "mask", {"keep": (0, 2)}, 500, 475.0),
    # Pendulum observation: cos, sin, theta_dot -> keep cos and sin.
    "PendulumNoVel-v0": (f"{CLASSIC}.pendulum:PendulumEnv", "mask", {"keep": (0, 1)}, 200, None),
    # Acrobot observation: cos/sin of both angles, two velocities -> keep the angles.
    "AcrobotNoVel-v0": (
        f"{CLASSIC}.acrobot:AcrobotEnv",
        "mask",
        {"keep": (0, 1, 2, 3)},
        500,
        -100.0,
    ),
    # DRQN's flickering observations (Hausknecht & Stone 2015), p = 0.5.
    "CartPoleFlicker-v0": (f"{CLASSIC}.cartpole:CartPoleEnv", "flicker", {"p": 0.5}, 500, 475.0),
}


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
    for name, (base, wrapper, wrapper_kwargs, max_steps, threshold) in MEMORY_ENVS.items():
        register(
            name,
            entry_point="stateful_rl.envs.wrappers:make_memory_env",
            kwargs={"base": base, "wrapper": wrapper, "wrapper_kwargs": wrapper_kwargs},
            max_episode_steps=max_steps,
            reward_threshold=threshold,
        )

    # Salamander ids (mujoco is imported only when one is made).
    from stateful_rl.envs.salamander.registration import register_salamander_envs

    register_salamander_envs()
