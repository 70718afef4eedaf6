"""Registration of every ``stateful_rl/...`` id with Gymnasium (idempotent).

Entry points are strings, so registering imports neither torch nor mujoco. The env classes'
defaults are their newest version; an older version is the same class with the arguments it
had, passed at registration.
"""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "stateful_rl"
CLASSIC = "gymnasium.envs.classic_control"

# The arguments that turn today's classes back into their older versions.
CATCH_V0 = {"hold_paddle": False}
TRACKING_V0 = {"window_rate": 0.03, "window_length": (10, 30)}

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
