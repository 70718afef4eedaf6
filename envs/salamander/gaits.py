"""Measured gaits of the salamander: speed, turn rate and drift under held commands.

Shared by the fidelity tests and ``stateful_rl.bench.salamander``. Turn rates follow the
body axis (centre of mass → head), whose yaw is unwrapped and fitted by a straight line
after a settling time: the slope averages out the body wave's oscillation, and unlike the
direction of the path it is defined for an animal that turns on the spot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stateful_rl.envs.salamander.base import make_env
from stateful_rl.envs.salamander.settings import TURNS

# The 2 ms reference of the 5 ms default: same 40 ms control period.
FINE = {"timestep": 0.002, "frame_skip": 20}
SWIM, WALK = "stateful_rl/SalamanderSwim-v1", "stateful_rl/SalamanderWalk-v1"


@dataclass(frozen=True)
class Gait:
    """What a held command did: ``speed`` of the centre of mass along +x (m/s), ``path_speed``
    along its path (m/s), and ``turn_rate`` of the body axis (deg/s, anticlockwise seen from
    above = left = positive), all after the settling time."""

    speed: float
    path_speed: float
    turn_rate: float


def hold(
    env_id: str,
    action,
    control: str = "cpg",
    seconds: float = 20.0,
    settle: float = 5.0,
    seed: int = 0,
    **kwargs,
) -> Gait:
    """Reset with ``seed``, hold ``action`` for ``seconds`` and measure after ``settle`` s."""
    env = make_env(env_id, control=control, **kwargs)
    env.reset(seed=seed)
    steps, start = round(seconds / env.control_dt), round(settle / env.control_dt)
    com, yaw = np.zeros((steps, 2)), np.zeros(steps)
    for k in range(steps):
        env.step(action)
        com[k] = env.com[:2]
        axis = env.head_position[:2] - com[k]
        yaw[k] = np.arctan2(axis[1], axis[0])
    time = np.arange(steps) * env.control_dt
    window = slice(start, steps)
    rate = np.polyfit(time[window], np.unwrap(yaw[window]), 1)[0]
    duration = time[-1] - time[start]
    path = np.linalg.norm(np.diff(com[window], axis=0), axis=1).sum()
    return Gait(
        speed=float((com[-1, 0] - com[start, 0]) / duration),
        path_speed=float(path / duration),
        turn_rate=float(np.degrees(rate)),
    )


def constant_drive(env_id: str, left: float, right: float, control: str = "cpg", **kwargs) -> Gait:
    """``hold`` CPG drives (left, right) with ``control`` ``"cpg"`` or ``"neural_cpg"``."""
    return hold(env_id, np.array([left, right]), control=control, **kwargs)


@dataclass(frozen=True)
class TurnRate:
    """One discrete turn action and what it did (see ``Gait``)."""

    action: int
    level: float
    turn: str
    drives: tuple[float, float]
    turn_rate: float
    path_speed: float


def discrete_turn_rates(
    env_id: str, seconds: float = 15.0, seed: int = 0, control: str = "cpg_discrete", **kwargs
) -> list[TurnRate]:
    """Turn rate and speed of every left and right action of ``control``
    (``"cpg_discrete"`` or ``"neural_cpg_discrete"``), each held for ``seconds`` from a reset
    with ``seed`` (settling for the first third)."""
    env = make_env(env_id, control=control, **kwargs)
    table, levels = env.animals.discrete_drives, env.settings.drive_levels
    rates = []
    for action, drives in enumerate(table):
        turn = TURNS[action % len(TURNS)]
        if turn == "straight":
            continue
        gait = hold(env_id, action, control, seconds, seconds / 3, seed, **kwargs)
        level = levels[action // len(TURNS)]
        rates.append(
            TurnRate(
                action,
                level,
                turn,
                (float(drives[0]), float(drives[1])),
                gait.turn_rate,
                gait.path_speed,
            )
        )
    return rates


def drift_at_rest(
    env_id: str, seconds: float = 10.0, seed: int = 0, control: str = "cpg", **kwargs
) -> np.ndarray:
    """Displacement [3] (m) of the centre of mass over ``seconds`` from the reset, with the
    CPG (``control`` ``"cpg"`` or ``"neural_cpg"``) at drives 0: how far the start itself
    carries the animal."""
    env = make_env(env_id, control=control, **kwargs)
    _, info = env.reset(seed=seed)
    start = info["com_position"]
    for _ in range(round(seconds / env.control_dt)):
        _, _, _, _, info = env.step(np.zeros(2))
    return info["com_position"] - start
