"""Reference policies of SalamanderTarget: their order, the dead-reckoning estimate of the
hidden goal, the body axis they steer by, and argument checks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.envs.salamander import references as refs

V2 = "stateful_rl/SalamanderTarget-v2"
DISCRETE = {"control": "cpg_discrete"}


def test_references_are_ordered_oracle_bayes_memoryless_random():
    """On the same 12 seeded episodes of v2. Dead reckoning is as good as the oracle up to
    the noise of 12 episodes (its estimate is off by a few cm), so it may pass the oracle
    by a little. Steering on the swinging head instead of the smoothed body axis, an
    odometry that forgets to turn, or a memoryless controller with its steering signs
    swapped each break this order."""
    means = {
        name: refs.run_episodes(V2, name, 12, 100, **DISCRETE).returns.mean()
        for name in refs.POLICIES
    }
    tie = 0.02 * (means["oracle"] - means["random"])
    assert means["oracle"] >= means["dead_reckoning"] - tie
    assert means["dead_reckoning"] >= means["memoryless"] >= means["random"]
    # The memory gap is most of the distance from random to Bayes-optimal.
    assert refs.gap_ratio(means) >= 0.5


def _tracking_errors(compass: bool, steps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Dead reckoning's error on the hidden goal's head-frame position, relative to the
    goal's distance, at every step where the goal is hidden; and each animal's turn (rad)."""
    n = 8
    env = refs.make_vector_env(V2, n, goal_distance=(2.0, 2.5), compass=compass, **DISCRETE)
    task = env.unwrapped.animals.task
    policy = refs.DeadReckoningPolicy(task, n)
    obs, info = env.reset(seed=3)
    start = np.ones(n, dtype=bool)
    first_heading = np.arctan2(task.animals.rotation[:, 3], task.animals.rotation[:, 0])
    errors = []
    for _ in range(steps):
        actions = policy.act(obs, info, start)
        truth = task.goal_in_head_frame()[:, :2]
        hidden = obs[:, -3] == 0.0
        error = np.linalg.norm(policy.estimate - truth, axis=1) / np.linalg.norm(truth, axis=1)
        errors.append(error[hidden])
        obs, _, terminated, truncated, info = env.step(actions)
        start = terminated | truncated
        assert not start.any()
    heading = np.arctan2(task.animals.rotation[:, 3], task.animals.rotation[:, 0])
    return np.concatenate(errors), np.abs(refs.wrap(heading - first_heading))


@pytest.mark.parametrize(("compass", "tolerance"), [(False, 0.1), (True, 0.02)])
def test_dead_reckoning_keeps_the_hidden_goal_in_body_coordinates(compass, tolerance):
    """The animals turn towards goals 2-2.5 m away; the estimate stays within 10 % of the
    goal's distance (2 % with the compass: position is then the only integral)."""
    errors, turns = _tracking_errors(compass)
    assert errors.size > 300  # the goal is hidden for most of the steps
    assert np.median(turns) > 0.5  # the odometry is tested through real turns
    assert errors.max() < tolerance


def test_body_axis_from_spine_angles_matches_the_simulated_centre_of_mass():
    env = gym.make_vec(V2, 4, vectorization_mode="vector_entry_point", **DISCRETE)
    animals = env.unwrapped.animals
    axis = refs.BodyAxis(animals.settings.body)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(40):
        obs = env.step(rng.integers(3, size=4))[0]
        com = animals.to_head_frame(animals.com)
        truth = np.arctan2(-com[:, 1], -com[:, 0])
        np.testing.assert_allclose(refs.wrap(axis.angle(obs[:, refs.SPINE]) - truth), 0, atol=0.02)


def test_memoryless_policy_acts_on_the_current_observation_alone():
    env = refs.make_vector_env(V2, 6, **DISCRETE)
    policy = refs.MemorylessPolicy(env.unwrapped.animals.task, 6)
    obs, info = env.reset(seed=0)
    start = np.ones(6, dtype=bool)
    for _ in range(20):
        obs = env.step(policy.act(obs, info, start))[0]
        start[:] = False
    reversed_rows = policy.act(obs[::-1], info, start)
    np.testing.assert_array_equal(policy.act(obs, info, start), reversed_rows[::-1])


def test_memoryless_parameters_are_checked():
    task = refs.make_vector_env(V2, 2, **DISCRETE).unwrapped.animals.task
    size = refs.MemorylessPolicy.n_parameters(len(task.animals.settings.drive_levels))
    with pytest.raises(ValueError, match="params must be finite"):
        refs.MemorylessPolicy(task, 2, params=np.zeros(size - 1))
    with pytest.raises(ValueError, match="params must be finite"):
        refs.MemorylessPolicy(task, 2, params=np.full(size, np.nan))
    assert refs.load_memoryless_parameters().shape == (size,)


def test_references_need_discrete_cpg_control_and_the_full_observation():
    for kwargs in ({"control": "cpg"}, {"control": "cpg_discrete", "observation": "partial"}):
        task = refs.make_vector_env(V2, 1, **kwargs).unwrapped.animals.task
        with pytest.raises(ValueError, match="control='cpg_discrete' and observation='full'"):
            refs.OraclePolicy(task, 1)
    with pytest.raises(ValueError, match="policy must be one of"):
        refs.run_episodes(V2, "greedy", 1, **DISCRETE)
