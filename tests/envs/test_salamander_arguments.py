"""Bad arguments of the salamander environments raise a ValueError naming the argument,
at construction: every float (non-finite and out of range), every integer, every choice."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.envs.salamander.cpg import MotorMap
from stateful_rl.envs.salamander.model import Arena, SalamanderBody
from stateful_rl.envs.salamander.neural_cpg import NeuralMotorMap
from stateful_rl.envs.salamander.swim import SalamanderSwimVectorEnv

NON_FINITE = (np.nan, np.inf, -np.inf)
SWIM, AMPHIBIOUS, TARGET = (
    "stateful_rl/SalamanderSwim-v1",
    "stateful_rl/SalamanderAmphibious-v1",
    "stateful_rl/SalamanderTarget-v1",
)
# (environment, argument, out-of-range values): every float argument of every environment.
FLOATS = [
    (SWIM, "turn_offset", (-0.1, 5.1)),
    (SWIM, "energy_weight", (-1e-3, 101.0)),
    (SWIM, "timestep", (0.0, -0.005, 0.02)),
    (SWIM, "cpg_dt", (0.0, -0.01, 0.2)),
    (SWIM, "reset_noise_scale", (-0.01, 1.5)),
    (SWIM, "rotational_drag", (-0.1, 11.0)),
    (SWIM, "heading", (-7.0, 7.0)),
    (SWIM, "start_yaw_noise", (-0.1, 3.2)),
    (AMPHIBIOUS, "start_inland", (-0.1, 11.0)),
    (AMPHIBIOUS, "finish_distance", (-0.1, 41.0)),
    (AMPHIBIOUS, "finish_bonus", (-1.0, 2e6)),
    (AMPHIBIOUS, "start_yaw_noise", (-0.1, 3.2)),
    (TARGET, "fov", (0.0, -1.0, 6.3)),
    (TARGET, "sight_range", (0.0, 101.0)),
    (TARGET, "goal_radius", (0.0, 11.0)),
    (TARGET, "goal_bonus", (-1.0, 2e6)),
    (TARGET, "cue_time", (-0.1, 1001.0)),
]
CASES = [
    pytest.param(env_id, name, value, id=f"{env_id.split('/')[1]}-{name}-{value}")
    for env_id, name, bad in FLOATS
    for value in (*NON_FINITE, *bad)
]


@pytest.mark.parametrize(("env_id", "name", "value"), CASES)
def test_bad_float_arguments_raise_naming_the_argument(env_id, name, value):
    with pytest.raises(ValueError, match=rf"{name} must be"):
        gym.make(env_id, **{name: value})


@pytest.mark.parametrize("value", [*NON_FINITE, -0.5, 5.5])
def test_bad_drive_levels_raise(value):
    with pytest.raises(ValueError, match="drive_levels must be"):
        gym.make(SWIM, drive_levels=(3.5, value))


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"frame_skip": 3}, "frame_skip"), ({"cpg_dt": 0.007}, "cpg_dt")]
)
def test_control_period_must_hold_whole_cpg_steps(kwargs, match):
    with pytest.raises(ValueError, match=rf"{match} \(.*\) must be a"):
        gym.make(SWIM, **kwargs)


@pytest.mark.parametrize("goal_distance", [(np.nan, 2.0), (1.0, np.inf), (0.0, 1.0), (2.0, 1.0)])
def test_bad_goal_distance_raises(goal_distance):
    with pytest.raises(ValueError, match=r"goal_distance"):
        gym.make(TARGET, goal_distance=goal_distance)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("frame_skip", 0),
        ("frame_skip", 2.0),
        ("width", 0),
        ("height", 10_000),
        ("control", "torque"),
        ("observation", "pixels"),
        ("turn_style", "gentle"),
        ("start_posture", "curled"),
        ("body", "large"),
        ("compass", 1),
        ("compass", "no"),
    ],
)
def test_bad_other_arguments_raise(name, value):
    with pytest.raises(ValueError, match=rf"{name} must be"):
        gym.make(SWIM, **{name: value})


@pytest.mark.parametrize(
    ("kind", "name", "value"),
    [
        (SalamanderBody, "link_length", np.nan),
        (SalamanderBody, "body_density", np.inf),
        (SalamanderBody, "body_kp", -1.0),
        (SalamanderBody, "armature", np.nan),
        (SalamanderBody, "foot_friction", np.inf),
        (SalamanderBody, "lift_range", (0.5, -0.5)),
        (SalamanderBody, "upper_leg", (0.045, np.nan)),
        (Arena, "pool_depth", np.nan),
        (Arena, "land_height", -0.1),
        (Arena, "shore_x", np.inf),
    ],
)
def test_bad_body_and_arena_fields_raise(kind, name, value):
    with pytest.raises(ValueError, match=name):
        dataclasses.replace(kind(), **{name: value})


@pytest.mark.parametrize("name", ["body_gain", "swing", "lift", "fold", "silent_amplitude"])
@pytest.mark.parametrize("value", [*NON_FINITE, -4.0, 11.0])
def test_bad_motor_map_arguments_raise(name, value):
    with pytest.raises(ValueError, match=rf"{name} must be"):
        MotorMap(**{name: value})


def test_the_vector_env_checks_the_same_arguments():
    with pytest.raises(ValueError, match="energy_weight must be"):
        SalamanderSwimVectorEnv(num_envs=2, energy_weight=np.nan)
    with pytest.raises(ValueError, match="goal_radius must be"):
        gym.make_vec(TARGET, 2, vectorization_mode="vector_entry_point", goal_radius=np.inf)


def test_defaults_and_range_ends_are_accepted():
    gym.make(SWIM, energy_weight=0.0, reset_noise_scale=1.0, heading=-2 * np.pi, timestep=0.01)
    gym.make(TARGET, fov=2 * np.pi, goal_distance=(1.0, 1.0), goal_bonus=0.0)


def test_the_motor_map_must_fit_the_control():
    with pytest.raises(ValueError, match="motor_map must be a NeuralMotorMap"):
        gym.make(SWIM, control="neural_cpg", motor_map=MotorMap())
    with pytest.raises(ValueError, match="motor_map must be a MotorMap"):
        gym.make(SWIM, control="cpg_discrete", motor_map=NeuralMotorMap.fitted())
    assert isinstance(
        gym.make(SWIM, control="neural_cpg").unwrapped.settings.motor_map, NeuralMotorMap
    )
