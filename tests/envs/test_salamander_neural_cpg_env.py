"""The salamander environments driven by the connectionist CPG (``control="neural_cpg"``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.envs.salamander.neural_cpg import N_NEURONS, NeuralSalamanderCPG

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*(infinity|normalized space|possible render_modes).*:UserWarning"
)
SWIM, WALK = "stateful_rl/SalamanderSwim-v1", "stateful_rl/SalamanderWalk-v1"


def com_speed(env_id: str, drive: float, steps: int = 250, seed: int = 0) -> float:
    """Mean centre-of-mass speed along +x (m/s) over the last three quarters of ``steps``
    control steps at a constant, symmetric neural-CPG drive."""
    env = gym.make(env_id, control="neural_cpg")
    env.reset(seed=seed)
    x = [env.step(np.array([drive, drive]))[4]["com_position"][0] for _ in range(steps)]
    quarter = steps // 4
    return (x[-1] - x[quarter]) / ((steps - 1 - quarter) * env.unwrapped.control_dt)


def test_observation_holds_the_firing_rates():
    env = gym.make(SWIM, control="neural_cpg")
    assert isinstance(env.unwrapped.animals.cpg, NeuralSalamanderCPG)
    env.reset(seed=0)
    obs, *_ = env.step(np.array([4.0, 4.0]))
    assert obs.shape == (20 + 4 + 20 + 1 + 3 + 3 + N_NEURONS + 2,) == env.observation_space.shape
    np.testing.assert_array_equal(obs[51 : 51 + N_NEURONS], env.unwrapped.animals.cpg.output[0])


def test_seeded_determinism_and_random_start():
    def rollout(seed: int) -> np.ndarray:
        env = gym.make(SWIM, control="neural_cpg")
        obs, _ = env.reset(seed=seed)
        return np.concatenate([obs] + [env.step(np.array([4.0, 3.5]))[0] for _ in range(20)])

    np.testing.assert_array_equal(rollout(1), rollout(1))
    assert not np.allclose(rollout(1), rollout(2))


def test_discrete_actions_map_to_the_documented_drives():
    env = gym.make(SWIM, control="neural_cpg_discrete").unwrapped
    env.reset(seed=0)
    left, straight = env.step(0)[4]["drives"], env.step(1)[4]["drives"]
    assert left[0] > left[1] and straight[0] == straight[1] == env.settings.drive_levels[0]


def test_swims_forward():
    assert com_speed(SWIM, 4.0) > 0.05  # m/s


def test_walks_forward():
    assert com_speed(WALK, 2.0) > 0.04  # m/s
