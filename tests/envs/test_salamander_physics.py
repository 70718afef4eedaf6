"""MuJoCo fidelity: the CPG-driven salamander swims, walks, turns and crosses the shore, with
the 2007 CPG (``control="cpg"``) and, where stated, the connectionist one (``"neural_cpg"``)."""

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

TURN_FLOOR = 5.0  # deg/s: every discrete turn action turns at least this fast
CPGS = ("cpg", "neural_cpg")
# Least rise of the swimming speed from one drive level to the next, as a fraction of the
# speed at d = 3.5: the 2007 CPG's amplitude and frequency both grow with drive; the neural
# CPG's motoneuron amplitude was fitted to grow as the 2007 one's.
SPEED_RISE = {"cpg": 0.05, "neural_cpg": 0.02}


@pytest.mark.parametrize("control", CPGS)
def test_swimming_speed_increases_with_drive(control):
    speeds = [constant_drive(SWIM, d, d, control).speed for d in (3.5, 4.0, 4.5, 5.0)]
    assert speeds[0] > 0.05  # m/s
    assert np.all(np.diff(speeds) > SPEED_RISE[control] * speeds[0]), speeds


@pytest.mark.parametrize("control", CPGS)
def test_walking_moves_forward_at_drive_two(control):
    speed = constant_drive(WALK, 2.0, 2.0, control).speed
    assert speed > 0.04, speed  # m/s


@pytest.mark.parametrize("control", CPGS)
@pytest.mark.parametrize(("left", "right", "sign"), [(4.5, 3.5, 1), (3.5, 4.5, -1)])
def test_swimming_turns_towards_the_larger_drive(control, left, right, sign):
    """From several starts: the neural CPG's spine once turned either way by the start."""
    for seed in (0, 2):
        rate = constant_drive(SWIM, left, right, control, seed=seed).turn_rate
        assert sign * rate > 2.0, (seed, rate)  # deg/s; positive = anticlockwise = left


def test_walking_turns_away_from_the_larger_drive():
    rate = constant_drive(WALK, 2.5, 1.5).turn_rate
    assert rate < -1.0, rate  # longer left strides push the animal to the right


@pytest.mark.parametrize(("left", "right", "sign"), [(2.5, 1.5, 1), (1.5, 2.5, -1)])
def test_walking_with_the_neural_cpg_turns_towards_the_larger_drive(left, right, sign):
    """Its strides do not depend on drive (``NeuralMotorMap``): the bend turns it."""
    rate = constant_drive(WALK, left, right, "neural_cpg").turn_rate
    assert sign * rate > 2.0, rate


@pytest.mark.parametrize(("env_id", "d", "rtol"), [(SWIM, 4.0, 0.03), (WALK, 2.0, 0.02)])
def test_default_timestep_matches_two_milliseconds(env_id, d, rtol):
    default = constant_drive(env_id, d, d).speed
    fine = constant_drive(env_id, d, d, **FINE).speed
    assert default == pytest.approx(fine, rel=rtol)


@pytest.mark.parametrize("control", ["cpg_discrete", "neural_cpg_discrete"])
@pytest.mark.parametrize("env_id", [SWIM, WALK])
def test_discrete_turn_actions_turn_sharply_the_right_way(env_id, control):
    """In water (swimming levels) and on land (walking levels), both directions."""
    rates = discrete_turn_rates(env_id, control=control)
    assert len(rates) == 6
    for rate in rates:
        sign = 1.0 if rate.turn == "left" else -1.0
        assert sign * rate.turn_rate >= TURN_FLOOR, rate


@pytest.mark.parametrize("control", CPGS)
@pytest.mark.parametrize("env_id", [SWIM, WALK])
def test_a_silent_animal_stays_where_it_starts(env_id, control):
    """At drive 0 the controller holds the reset posture: the start kicks nothing."""
    for seed in (0, 1):
        displacement = drift_at_rest(env_id, seconds=10.0, seed=seed, control=control)
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
