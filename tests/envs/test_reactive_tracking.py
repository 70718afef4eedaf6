"""The best memoryless tracking controllers: family, CMA-ES search, stored parameters."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from stateful_rl.envs.reactive_tracking import (
    KNOTS,
    best_reactive_params,
    initial_params,
    optimise_reactive_params,
    reactive_actions,
    reactive_returns,
    stored_params,
    task_key,
)
from stateful_rl.envs.tracking import TrackingTask


def registered_task(version: str, **kwargs) -> TrackingTask:
    return gym.make(f"stateful_rl/OccludedTracking-{version}", **kwargs).unwrapped.task


@pytest.mark.parametrize("version", ["v0", "v1"])
@pytest.mark.parametrize(
    "kwargs", [{}, {"dim": 2}, {"dynamics": "oscillator"}, {"occluders": "both"}]
)
def test_the_reported_configurations_have_stored_controllers(version, kwargs):
    params = stored_params()[task_key(registered_task(version, **kwargs))]
    assert len(params) == 1 + KNOTS
    np.testing.assert_array_equal(best_reactive_params(registered_task(version, **kwargs)), params)


def test_a_short_search_beats_its_start_on_fresh_episodes():
    task = TrackingTask()
    found = optimise_reactive_params(task, generations=4, train_episodes=32)
    returns = reactive_returns(task, np.stack([initial_params(), found]), 200, seed=0)
    assert returns[1].mean() > returns[0].mean() + 2


def test_the_search_is_seeded_and_leaves_numpy_global_generator_alone():
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy global generator)
    task = TrackingTask()
    first = optimise_reactive_params(task, generations=2, train_episodes=8)
    np.testing.assert_array_equal(first, optimise_reactive_params(task, 2, 8))
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_hidden_drift_moves_with_the_probability_of_its_speed():
    task = TrackingTask()
    params = np.tile(np.r_[0.0, np.full(KNOTS, 0.3)], (4000, 1))
    hidden = np.zeros((4000, 3), dtype=np.float32)  # tracker at 0, target hidden
    uniform = np.random.default_rng(0).random((4000, 1))
    actions = reactive_actions(task, params, hidden, uniform)
    assert set(np.unique(actions)) == {1, 2}  # stay or right
    assert (actions == 2).mean() == pytest.approx(0.3, abs=0.03)
    visible = np.array([[0.0, -0.5, 1.0]] * 4000, dtype=np.float32)
    assert (reactive_actions(task, params, visible, uniform) == 0).all()  # chase left


@pytest.mark.slow
def test_stored_v1_controller_is_what_the_search_finds_today():
    task = registered_task("v1")
    np.testing.assert_allclose(
        optimise_reactive_params(task), stored_params()[task_key(task)], atol=1e-6
    )


def test_deterministic_family_moves_at_full_speed_or_stays():
    """With ``deterministic=True`` a drift speed below 1/2 stays put and one above moves every
    step, so the returns do not depend on the drift's random numbers; the stochastic family
    with the same slow drift scores differently."""
    task = TrackingTask()
    slow, fast = np.r_[0.0, np.full(KNOTS, 0.3)], np.r_[0.0, np.full(KNOTS, 0.7)]
    det = reactive_returns(task, np.stack([slow, initial_params(), fast]), 50, 3, True)
    np.testing.assert_array_equal(det[0], det[1])  # |u| = 0.3 < 1/2: the naive rule
    assert not np.array_equal(det[2], det[1])
    always = reactive_returns(task, np.r_[0.0, np.full(KNOTS, 1.0)], 50, 3)
    np.testing.assert_array_equal(det[2], always[0])  # |u| = 0.7 >= 1/2: every step
    assert not np.array_equal(reactive_returns(task, slow, 50, 3)[0], det[0])
