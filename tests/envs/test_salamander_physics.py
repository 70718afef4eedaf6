"""MuJoCo fidelity: the CPG-driven salamander swims, walks, turns and crosses the shore."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from stateful_rl.bench.salamander import FINE, SWIM, WALK, constant_drive
from stateful_rl.envs.salamander.amphibious import reference_drives


def test_swimming_speed_increases_with_drive():
    speeds = [constant_drive(SWIM, d, d)[0] for d in (3.5, 4.0, 4.5, 5.0)]
    assert speeds[0] > 0.05  # m/s
    assert np.all(np.diff(speeds) > 0.05 * speeds[0]), speeds


def test_walking_moves_forward_at_drive_two():
    speed, _ = constant_drive(WALK, 2.0, 2.0)
    assert speed > 0.04, speed  # m/s


@pytest.mark.parametrize(("left", "right", "sign"), [(4.5, 3.5, 1), (3.5, 4.5, -1)])
def test_swimming_turns_towards_the_larger_drive(left, right, sign):
    _, turn = constant_drive(SWIM, left, right)
    assert sign * turn > 20.0, turn  # degrees; positive = anticlockwise = left


def test_walking_turns_away_from_the_larger_drive():
    _, turn = constant_drive(WALK, 2.5, 1.5)
    assert turn < -10.0, turn  # longer left strides push the animal to the right


@pytest.mark.parametrize(("env_id", "d", "rtol"), [(SWIM, 4.0, 0.03), (WALK, 2.0, 0.02)])
def test_default_timestep_matches_two_milliseconds(env_id, d, rtol):
    default, _ = constant_drive(env_id, d, d)
    fine, _ = constant_drive(env_id, d, d, **FINE)
    assert default == pytest.approx(fine, rel=rtol)


def test_amphibious_walk_enter_and_swim_across_the_finish():
    """The reference controller: walk until the head and trunk are wet, then swim."""
    env = gym.make("stateful_rl/SalamanderAmphibious-v0", control="cpg")
    _, info = env.reset(seed=0)
    assert not info["links_in_water"].any()
    for _ in range(1000):
        _, _, terminated, truncated, info = env.step(reference_drives(info))
        if terminated or truncated:
            break
    assert terminated and info["reward_finish"] > 0
    assert info["links_in_water"].all()
