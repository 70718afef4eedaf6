"""Gymnasium's classic-control tasks made partially observable (registered entry points).

Each id has its own entry point: the base environment and the memory wrapper are fixed by
the registration, never taken from keyword arguments (an import string in user-supplied
kwargs would let a config file run code). Keyword arguments go to the base environment,
except ``p`` of the flickering variant. Actions are checked against the action space
(:class:`~stateful_rl.envs.wrappers.CheckAction`): Gymnasium's classic-control envs accept
NaN, wrongly shaped or out-of-range actions silently.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from stateful_rl.envs.wrappers import CheckAction, Flicker, MaskObservation


def cartpole_no_velocity(**kwargs: Any) -> gym.Env:
    """``CartPoleNoVel``: CartPole's observation ``[x, ẋ, θ, θ̇]`` reduced to ``[x, θ]``."""
    return CheckAction(MaskObservation(CartPoleEnv(**kwargs), keep=(0, 2)))


def pendulum_no_velocity(**kwargs: Any) -> gym.Env:
    """``PendulumNoVel``: Pendulum's ``[cos θ, sin θ, θ̇]`` reduced to ``[cos θ, sin θ]``."""
    return CheckAction(MaskObservation(PendulumEnv(**kwargs), keep=(0, 1)))


def acrobot_no_velocity(**kwargs: Any) -> gym.Env:
    """``AcrobotNoVel``: Acrobot's observation without its two angular velocities."""
    return CheckAction(MaskObservation(AcrobotEnv(**kwargs), keep=(0, 1, 2, 3)))


def cartpole_flicker(p: float = 0.5, **kwargs: Any) -> gym.Env:
    """``CartPoleFlicker``: CartPole's whole observation zeroed with probability ``p`` per step
    (DRQN's flickering Atari, Hausknecht & Stone 2015)."""
    return CheckAction(Flicker(CartPoleEnv(**kwargs), p=p))


# id -> (entry point, max_episode_steps, reward_threshold)
CLASSIC_MEMORY_ENVS: dict[str, tuple[str, int, float | None]] = {
    "CartPoleNoVel-v0": (f"{__name__}:cartpole_no_velocity", 500, 475.0),
    "PendulumNoVel-v0": (f"{__name__}:pendulum_no_velocity", 200, None),
    "AcrobotNoVel-v0": (f"{__name__}:acrobot_no_velocity", 500, -100.0),
    "CartPoleFlicker-v0": (f"{__name__}:cartpole_flicker", 500, 475.0),
}
