"""Memory wrappers: MaskObservation, Flicker, OcclusionWindows."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.envs.wrappers import Flicker, MaskObservation, OcclusionWindows


def observations(env: gym.Env, steps: int, action=1) -> tuple[np.ndarray, list[bool]]:
    """``steps`` observations under a constant action (seed 0) and their blackout flags."""
    obs, info = env.reset(seed=0)
    out, blackout = [obs], [info.get("blackout", False)]
    for _ in range(steps):
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()
        out.append(obs)
        blackout.append(info.get("blackout", False))
    return np.array(out), blackout


@pytest.mark.parametrize(
    ("env_id", "base", "keep"),
    [
        ("CartPoleNoVel-v0", "CartPole-v1", [0, 2]),
        ("PendulumNoVel-v0", "Pendulum-v1", [0, 1]),
        ("AcrobotNoVel-v0", "Acrobot-v1", [0, 1, 2, 3]),
    ],
)
def test_no_velocity_ids_keep_positions_of_the_same_trajectory(env_id, base, keep):
    masked = gym.make(f"stateful_rl/{env_id}")
    full = gym.make(base)
    assert masked.spec.max_episode_steps == full.spec.max_episode_steps
    action = np.zeros(1, dtype=np.float32) if "Pendulum" in env_id else 1
    masked_obs = observations(masked, 600, action)[0]
    np.testing.assert_array_equal(masked_obs, observations(full, 600, action)[0][:, keep])
    assert masked.observation_space.shape == (len(keep),)


def test_flicker_zeroes_about_p_of_the_steps_reproducibly():
    env = gym.make("stateful_rl/CartPoleFlicker-v0")
    obs, blackout = observations(env, 3000)
    again, _ = observations(env, 3000)
    np.testing.assert_array_equal(obs, again)
    zeroed = (obs == 0).all(axis=1)
    np.testing.assert_array_equal(zeroed, blackout)
    assert 0.45 < zeroed.mean() < 0.55
    # The env's own dynamics are untouched: shown observations match plain CartPole.
    plain = observations(gym.make("CartPole-v1"), 3000)[0]
    np.testing.assert_array_equal(obs[~zeroed], plain[~zeroed])


def test_occlusion_windows_fraction_and_lengths():
    env = OcclusionWindows(gym.make("MountainCar-v0", max_episode_steps=10_000), 0.05, (5, 15))
    blackout = observations(env, 5000)[1]
    assert not blackout[0]
    runs, length = [], 0
    for hidden in blackout:
        if hidden:
            length += 1
        elif length:
            runs.append(length)
            length = 0
    # Back-to-back windows merge, so runs are at least 5 steps, multiples can be longer.
    assert min(runs) >= 5 and np.mean(runs) > 8
    expected = 0.05 * 10 / (1 + 0.05 * 10)
    assert abs(np.mean(blackout) - expected) < 0.07


def test_wrapper_argument_errors():
    base = gym.make("CartPole-v1")
    with pytest.raises(ValueError, match="keep"):
        MaskObservation(base, keep=[4])
    with pytest.raises(ValueError, match="1-D Box"):
        MaskObservation(gym.make("FrozenLake-v1"), keep=[0])
    with pytest.raises(ValueError, match="p must be in"):
        Flicker(base, p=1.01)
    with pytest.raises(ValueError, match="rate"):
        OcclusionWindows(base, rate=-0.5)
    with pytest.raises(ValueError, match="length"):
        OcclusionWindows(base, length=(3, 2))
