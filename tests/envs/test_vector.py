"""Native vector envs: same trajectories as Gymnasium's SyncVectorEnv of the single env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.envs.tracking import CHUNK, OccludedTrackingVectorEnv

TRACKING = "stateful_rl/OccludedTracking-v0"
CATCH = "stateful_rl/OccludedCatch-v0"
CASES = [
    (TRACKING, {}, 450),  # three episodes: autoreset
    (TRACKING, {"dim": 2, "dynamics": "random_accel", "occluders": "both"}, 450),
    (TRACKING, {"dynamics": "oscillator", "max_episode_steps": CHUNK + 50}, 2 * CHUNK),
    (TRACKING, {"obs_type": "pixels", "dim": 2}, 250),
    (CATCH, {}, 40),
    (CATCH, {"columns": 5, "rows": 6, "visible_rows": 2}, 40),
    ("stateful_rl/OccludedCatch-v1", {}, 40),
    ("stateful_rl/OccludedTracking-v1", {"dim": 2, "occluders": "both"}, 450),
]


@pytest.mark.parametrize(("env_id", "kwargs", "steps"), CASES)
def test_native_vector_equals_sync_vector_of_single_envs(env_id, kwargs, steps):
    num_envs = 5
    native = gym.make_vec(env_id, num_envs, vectorization_mode="vector_entry_point", **kwargs)
    sync = gym.make_vec(env_id, num_envs, vectorization_mode="sync", **kwargs)
    assert native.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert sync.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs_native, _ = native.reset(seed=7)
    obs_sync, _ = sync.reset(seed=7)
    np.testing.assert_array_equal(obs_native, obs_sync)
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(steps):
        actions = rng.integers(native.single_action_space.n, size=num_envs)
        result_native, result_sync = native.step(actions), sync.step(actions)
        np.testing.assert_array_equal(result_native[0], result_sync[0])
        assert native.observation_space.contains(result_native[0])
        for a, b in zip(result_native[1:4], result_sync[1:4], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-12)
        for key in ("visible", "distance"):
            np.testing.assert_allclose(result_native[4][key], result_sync[4][key], atol=1e-12)
        ends += int((result_native[2] | result_native[3]).sum())
    assert ends >= num_envs  # autoreset was exercised


def test_vector_actions_are_checked():
    env = OccludedTrackingVectorEnv(num_envs=3)
    env.reset(seed=0)
    for bad in ([0, 1, 3], [0, 1], [0.0, 1.0, 1.0], [[0, 1, 2]]):
        with pytest.raises(ValueError, match="actions"):
            env.step(np.array(bad))


def test_vector_seed_lists_and_fresh_seeds():
    env = OccludedTrackingVectorEnv(num_envs=3)
    seeded, _ = env.reset(seed=[10, 11, 12])
    again, _ = env.reset(seed=10)
    np.testing.assert_array_equal(seeded, again)
    with pytest.raises(ValueError, match="one seed per sub-env"):
        env.reset(seed=[1, 2])


def test_vector_render_returns_one_frame_per_env():
    env = gym.make_vec(TRACKING, 2, render_mode="rgb_array")
    env.reset(seed=0)
    frames = env.render()
    assert len(frames) == 2 and frames[0].shape == (192, 192, 3)
