"""MuJoCo fidelity: the CPG-driven salamander swims, walks, turns and crosses the shore."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from stateful_rl.envs.salamander.amphibious import reference_drives
from stateful_rl.envs.salamander.gaits import (
    FINE,
    SWIM,
    WALK,
    constant_drive,
    discrete_turn_rates,
    drift_at_rest,
)

TURN_FLOOR = 5.0  # deg/s: every cpg_discrete turn action turns at least this fast


def test_swimming_speed_increases_with_drive():
    speeds = [constant_drive(SWIM, d, d).speed for d in (3.5, 4.0, 4.5, 5.0)]
    assert speeds[0] > 0.05  # m/s
    assert np.all(np.diff(speeds) > 0.05 * speeds[0]), speeds


def test_walking_moves_forward_at_drive_two():
    speed = constant_drive(WALK, 2.0, 2.0).speed
    assert speed > 0.04, speed  # m/s


@pytest.mark.parametrize(("left", "right", "sign"), [(4.5, 3.5, 1), (3.5, 4.5, -1)])
def test_swimming_turns_towards_the_larger_drive(left, right, sign):
    rate = constant_drive(SWIM, left, right).turn_rate
    assert sign * rate > 2.0, rate  # deg/s; positive = anticlockwise = left


def test_walking_turns_away_from_the_larger_drive():
    rate = constant_drive(WALK, 2.5, 1.5).turn_rate
    assert rate < -1.0, rate  # longer left strides push the animal to the right


@pytest.mark.parametrize(("env_id", "d", "rtol"), [(SWIM, 4.0, 0.03), (WALK, 2.0, 0.02)])
def test_default_timestep_matches_two_milliseconds(env_id, d, rtol):
    default = constant_drive(env_id, d, d).speed
    fine = constant_drive(env_id, d, d, **FINE).speed
    assert default == pytest.approx(fine, rel=rtol)


@pytest.mark.parametrize("env_id", [SWIM, WALK])
def test_discrete_turn_actions_turn_sharply_the_right_way(env_id):
    """In water (swimming levels) and on land (walking levels), both directions."""
    rates = discrete_turn_rates(env_id)
    assert len(rates) == 6
    for rate in rates:
        sign = 1.0 if rate.turn == "left" else -1.0
        assert sign * rate.turn_rate >= TURN_FLOOR, rate


@pytest.mark.parametrize("env_id", [SWIM, WALK])
def test_a_silent_animal_stays_where_it_starts(env_id):
    """At drive 0 the controller holds the reset posture: the start kicks nothing."""
    for seed in (0, 1):
        displacement = drift_at_rest(env_id, seconds=10.0, seed=seed)
        assert np.linalg.norm(displacement) < 0.02, displacement  # m, in 10 s


def test_amphibious_walk_enter_and_swim_across_the_finish():
    """The reference controller: walk until the head and trunk are wet, then swim."""
    env = gym.make("stateful_rl/SalamanderAmphibious-v1", control="cpg")
    _, info = env.reset(seed=0)
    assert not info["links_in_water"].any()
    for _ in range(1000):
        _, _, terminated, truncated, info = env.step(reference_drives(info))
        if terminated or truncated:
            break
    assert terminated and info["reward_finish"] > 0
    assert info["links_in_water"].all()
