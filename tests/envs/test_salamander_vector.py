"""Native vector salamander: the same trajectories as Gymnasium's SyncVectorEnv of the
single env, over several episodes with autoresets, on both physics loops."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.adapters import FORCE_FALLBACK_VARIABLE
from stateful_rl.envs.salamander.swim import SalamanderSwimVectorEnv

NUM_ENVS = 3
CASES = [
    ("SalamanderSwim-v1", "cpg", {"max_episode_steps": 30}),
    ("SalamanderWalk-v1", "cpg_discrete", {"max_episode_steps": 25}),
    ("SalamanderAmphibious-v1", "joints", {"max_episode_steps": 35, "observation": "partial"}),
    # A goal radius as large as the nearest goals: some episodes end at once, by termination.
    ("SalamanderTarget-v1", "cpg_discrete", {"goal_radius": 1.3, "max_episode_steps": 40}),
    ("SalamanderSwim-v1", "neural_cpg", {"max_episode_steps": 30}),
    ("SalamanderWalk-v1", "neural_cpg_discrete", {"max_episode_steps": 25}),
    # The cue's clock and the heading-free orientation, per animal.
    ("SalamanderTarget-v2", "cpg_discrete", {"goal_radius": 1.3, "max_episode_steps": 40}),
]
INFO_KEYS = ("com_position", "com_velocity", "power", "drives", "links_in_water")


def _compare(env_id: str, control: str, kwargs: dict, steps: int = 90) -> int:
    make = {"id": f"stateful_rl/{env_id}", "num_envs": NUM_ENVS, "control": control, **kwargs}
    native = gym.make_vec(vectorization_mode="vector_entry_point", **make)
    sync = gym.make_vec(vectorization_mode="sync", **make)
    assert native.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs_native, info_native = native.reset(seed=11)
    obs_sync, info_sync = sync.reset(seed=11)
    np.testing.assert_array_equal(obs_native, obs_sync)
    np.testing.assert_array_equal(info_native["com_position"], info_sync["com_position"])
    native.single_action_space.seed(0)
    ends, terminations = 0, 0
    for _ in range(steps):
        actions = np.stack([native.single_action_space.sample() for _ in range(NUM_ENVS)])
        result_native, result_sync = native.step(actions), sync.step(actions)
        for a, b in zip(result_native[:4], result_sync[:4], strict=True):
            np.testing.assert_array_equal(a, b)
        assert native.observation_space.contains(result_native[0])
        keys = INFO_KEYS + tuple(k for k in result_sync[4] if k.startswith(("reward_", "goal")))
        for key in keys:
            np.testing.assert_array_equal(result_native[4][key], result_sync[4][key], err_msg=key)
        ends += int((result_native[2] | result_native[3]).sum())
        terminations += int(result_native[2].sum())
    assert ends >= 2 * NUM_ENVS  # several episodes each: autoreset exercised
    return terminations


@pytest.mark.parametrize(("env_id", "control", "kwargs"), CASES)
def test_native_vector_equals_sync_vector_of_single_envs(env_id, control, kwargs):
    terminations = _compare(env_id, control, kwargs)
    if env_id.startswith("SalamanderTarget"):
        assert terminations > 0


def test_public_fallback_vector_equals_sync_vector(monkeypatch):
    monkeypatch.setenv(FORCE_FALLBACK_VARIABLE, "1")
    env = SalamanderSwimVectorEnv(num_envs=2)
    assert env.animals.physics.backend == "public"
    _compare("SalamanderSwim-v1", "cpg", {"max_episode_steps": 20}, steps=45)


@pytest.mark.parametrize(
    ("control", "actions"),
    [
        ("cpg_discrete", [0, 1, 9]),
        ("cpg_discrete", [0, 1]),
        ("cpg_discrete", [0.0, 1.0, 1.0]),
        ("cpg", np.full((3, 3), 4.0)),
        ("cpg", [[4.0, 4.0], [np.nan, 4.0], [4.0, 4.0]]),
        ("neural_cpg", np.full((3, 1), 4.0)),
        ("neural_cpg_discrete", [0, 1, 9]),
        ("joints", np.zeros((3, 19))),
        ("joints", np.full((3, 20), np.inf)),
    ],
)
def test_vector_actions_are_checked(control, actions):
    env = SalamanderSwimVectorEnv(num_envs=3, control=control)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="actions"):
        env.step(np.array(actions))


def test_vector_render_returns_one_frame_per_env():
    env = gym.make_vec(
        "stateful_rl/SalamanderSwim-v1", 2, render_mode="rgb_array", width=64, height=48
    )
    env.reset(seed=0)
    try:
        frames = env.render()
    except Exception as error:  # no OpenGL backend on this machine
        pytest.skip(f"no rendering backend: {error}")
    assert len(frames) == 2 and frames[0].shape == (48, 64, 3)
    env.close()
