"""Reference policies, the memory score, the v1 ratio floor, and the Kalman filter."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from stateful_rl.envs.kalman import KalmanFilter, reflect_state
from stateful_rl.envs.reference_policies import (
    N_PARTICLES,
    POLICIES,
    episode_returns,
    evaluate_reference_policies,
    gap_ratio,
    make_policy,
    memory_score,
    reference_label,
    reference_means,
)
from stateful_rl.envs.registration import TRACKING_V0
from stateful_rl.envs.steering import greedy_actions
from stateful_rl.envs.tracking import TrackingTask

TRACKING_V0_ID = "stateful_rl/OccludedTracking-v0"
TRACKING_V1 = "stateful_rl/OccludedTracking-v1"
CATCH_V0, CATCH_V1 = "stateful_rl/OccludedCatch-v0", "stateful_rl/OccludedCatch-v1"
FLOOR = 0.5  # (R_bayes - R_best_memoryless) >= FLOOR * (R_bayes - R_random) on the v1 envs


def means(env_id: str, episodes: int, policies=POLICIES) -> dict[str, float]:
    """Mean returns of ``policies`` on the same seeded episodes."""
    return {p: episode_returns(env_id, p, episodes, seed=0).mean() for p in policies}


@pytest.fixture(scope="module")
def tracking_v1() -> dict[str, float]:
    return means(TRACKING_V1, 200)


def test_tracking_v1_references_are_ordered(tracking_v1):
    """Measured (1000 episodes, seed 0): see the version history of OccludedTrackingEnv."""
    mean = tracking_v1
    assert mean["random"] < mean["naive_memoryless"] < mean["best_memoryless"] - 5
    assert mean["best_memoryless"] < mean["bayes"] - 20  # a large memory gap
    assert mean["bayes"] <= mean["oracle"] + 0.2  # no filter beats the true state


def test_tracking_v1_meets_the_ratio_floor(tracking_v1):
    """Measured 0.63 (1000 episodes); v0 is at 0.34 (next test)."""
    m = tracking_v1
    assert gap_ratio(m["random"], m["best_memoryless"], m["bayes"]) >= FLOOR


def test_tracking_v0_does_not_meet_the_floor():
    """Why v1 exists: on v0 the best memoryless controller is too close to Bayes."""
    m = means(TRACKING_V0_ID, 150, ("random", "best_memoryless", "bayes"))
    assert gap_ratio(m["random"], m["best_memoryless"], m["bayes"]) < 0.45


@pytest.mark.parametrize(("env_id", "low", "high"), [(CATCH_V0, 0.1, 0.25), (CATCH_V1, 0.8, 1.0)])
def test_catch_gap_ratios(env_id, low, high):
    """Exact values: v0 (1 - 15/21) / (1 + 0.707) = 0.167, v1 (1 + 11/21) / (1 + 0.696) =
    0.898; here from 2000 seeded episodes."""
    m = means(env_id, 2000, ("random", "best_memoryless", "bayes"))
    assert m["bayes"] == 1.0
    assert low <= gap_ratio(m["random"], m["best_memoryless"], m["bayes"]) <= high


class HalfwayRule:
    """Chase the seen target; while it is hidden aim at 0.9 x the tracker's own position
    (the rule an outside review proposed as a stronger memoryless baseline)."""

    def __init__(self, task):
        self.task = task

    def act(self, obs, info, episode_start):
        tracker, seen, visible = self.task.split_obs(obs)
        goal = np.where(visible[:, None], seen, 0.9 * tracker)
        return greedy_actions(self.task.moves, tracker, goal)


def run(env_id: str, agent, episodes: int) -> float:
    env = gym.make_vec(env_id, num_envs=episodes, vectorization_mode="vector_entry_point")
    obs, info = env.reset(seed=0)
    total = 0.0
    for _ in range(200):
        obs, reward, _, _, info = env.step(agent.act(obs, info, None))
        total += reward.sum()
    return total / episodes


@pytest.mark.parametrize("env_id", [TRACKING_V0_ID, TRACKING_V1])
def test_best_memoryless_beats_the_halfway_rule_on_the_same_episodes(env_id):
    task = gym.make(env_id).unwrapped.task
    halfway = run(env_id, HalfwayRule(task), 300)
    best = episode_returns(env_id, "best_memoryless", 300, seed=0).mean()
    assert best > halfway + 0.5


def test_evaluate_reference_policies_reports_every_policy():
    results = evaluate_reference_policies(CATCH_V1, 50, seed=3)
    assert list(results) == list(POLICIES)
    assert results["bayes"] == (1.0, 0.0)
    assert all(std >= 0 for _, std in results.values())


def test_reference_means_are_the_chosen_policies_means_on_the_same_episodes():
    means = reference_means(CATCH_V1, 20, seed=7, policies=("random", "best_memoryless"))
    assert list(means) == ["random", "best_memoryless"]
    for policy, mean in means.items():
        assert mean == episode_returns(CATCH_V1, policy, 20, seed=7).mean()


def test_memory_score_and_gap_ratio_scales_and_errors():
    assert memory_score(-10.0, -10.0, 0.0) == 0.0
    assert memory_score(0.0, -10.0, 0.0) == 1.0
    assert memory_score(-2.5, -10.0, 0.0) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="no memory gap"):
        memory_score(0.0, 1.0, 1.0)
    assert gap_ratio(-20.0, -10.0, 0.0) == pytest.approx(0.5)


def test_unknown_policy_and_task_raise():
    with pytest.raises(ValueError, match="policy must be one of"):
        episode_returns(CATCH_V1, "greedy", 2)
    with pytest.raises(ValueError, match="no reference policies"):
        make_policy("bayes", object(), 2)
    with pytest.raises(ValueError, match="no reference policies"):
        make_policy("oracle", TrackingTask(obs_type="pixels"), 2)


def test_labels_say_which_filter_is_exact():
    catch = gym.make(CATCH_V1).unwrapped.task
    assert reference_label(catch, "bayes") == "Bayes filter, exact"
    assert reference_label(TrackingTask(dynamics="oscillator"), "bayes") == "Kalman filter, exact"
    assert reference_label(TrackingTask(), "bayes") == f"particle filter, N = {N_PARTICLES}"
    oscillator_bands = TrackingTask(dynamics="oscillator", occluders="both")
    assert reference_label(oscillator_bands, "bayes").endswith("not converged")
    assert {reference_label(catch, p) for p in POLICIES} >= {"random", "naive memoryless"}


def test_greedy_actions_pick_the_closest_move():
    moves = np.array([[-0.1], [0.0], [0.1]])
    agent = np.zeros((3, 1))
    goal = np.array([[-0.5], [0.02], [0.3]])
    np.testing.assert_array_equal(greedy_actions(moves, agent, goal), [0, 1, 2])


@pytest.mark.parametrize(
    ("dynamics", "factor"), [("oscillator", 0.5), ("bounce", 0.5), ("random_accel", 0.6)]
)
def test_kalman_beats_raw_and_last_seen_observations(dynamics, factor):
    task = TrackingTask(**TRACKING_V0, dynamics=dynamics, noise=0.05, process_noise=0.02)
    states, obs, visible = task.simulate(200, 40)
    filtered, predicted = task.kalman_filter().filter(obs, visible)
    assert filtered.shape == predicted.shape == (200, 40, 2)
    assert states.shape == (200, 40, 2) and obs.shape == (200, 40, 1)
    error = (filtered[..., 0] - states[..., 0]) ** 2
    # Visible steps: better than the raw observation (noise variance 0.0025).
    assert error[visible].mean() < 0.5 * ((obs[..., 0] - states[..., 0]) ** 2)[visible].mean()
    # Occluded steps: far better than holding the last seen observation (measured ratios:
    # bounce 0.04, oscillator 0.05, random_accel 0.33; 0.94 at process_noise 0.05).
    last_seen = np.zeros_like(obs[..., 0])
    for t in range(1, 200):
        last_seen[t] = np.where(visible[t], obs[t, :, 0], last_seen[t - 1])
    hidden = ~visible
    hold_error = ((last_seen - states[..., 0]) ** 2)[hidden].mean()
    assert error[hidden].mean() < factor * hold_error


def test_kalman_batch_equals_one_sequence_at_a_time():
    task = TrackingTask(dynamics="oscillator")
    _, obs, visible = task.simulate(50, 3, seed=1)
    kf = task.kalman_filter()
    batched = kf.filter(obs, visible)[0]
    for b in range(3):
        single = kf.filter(obs[:, b : b + 1], visible[:, b : b + 1])[0]
        np.testing.assert_allclose(batched[:, b : b + 1], single, atol=1e-12)


def test_kalman_coasts_while_hidden_and_resets():
    kf = KalmanFilter([[1, 1], [0, 1]], [[1, 0]], 1e-10 * np.eye(2), [[1e-8]], [0, 0], np.eye(2))
    obs = np.array([0.0, 1.0, 2.0, 0.0, 0.0])[:, None, None]
    visible = np.array([True, True, True, False, False])[:, None]
    filtered, _ = kf.filter(obs, visible)
    np.testing.assert_allclose(filtered[:, 0, 0], [0, 1, 2, 3, 4], atol=1e-4)
    state = kf.reset_where(kf.initial_state(2), np.array([True, False]))
    np.testing.assert_array_equal(state.mean, 0.0)
    with pytest.raises(ValueError, match="expected obs"):
        kf.filter(obs[:, :, 0], visible)
    with pytest.raises(ValueError, match="transition"):
        KalmanFilter(np.ones((2, 3)), [[1, 0]], np.eye(2), [[1.0]], [0, 0], np.eye(2))


def test_reflect_state_mirrors_positions_and_flips_velocities():
    state = np.array([[1.2, -0.5, 0.3, -0.2], [0.1, -1.1, 0.3, -0.2]])
    np.testing.assert_allclose(
        reflect_state(state, -1.0, 1.0), [[0.8, -0.5, -0.3, -0.2], [0.1, -0.9, 0.3, 0.2]]
    )
