"""Tiny tasks a correct agent must solve in a few thousand steps (fast, fixed seeds)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from stateful_rl.agents import RecurrentDQN

torch.set_num_threads(1)  # several threads on busy cores are far slower for small nets


class RecallEnv(gym.Env):
    """A cue (one of two, one-hot) at step 0, blanks for ``delay`` steps, then a query flag:
    reward +1 for the action equal to the cue, −1 otherwise; the episode ends.

    Optimal return 1; any memoryless policy earns 0 in expectation.
    Observation ``[cue_0, cue_1, query]``; two actions.
    """

    def __init__(self, delay: int = 8) -> None:
        self.delay = delay
        self.observation_space = gym.spaces.Box(0.0, 1.0, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def _obs(self) -> np.ndarray:
        obs = np.zeros(3, np.float32)
        if self.t == 0:
            obs[self.cue] = 1.0
        obs[2] = float(self.t == self.delay)
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.cue = 0, int(self.np_random.integers(2))
        return self._obs(), {}

    def step(self, action):
        if self.t == self.delay:
            return self._obs(), 1.0 if action == self.cue else -1.0, True, False, {}
        self.t += 1
        return self._obs(), 0.0, False, False, {}


RECALL = {
    "learning_starts": 200, "buffer_size": 5000, "batch_size": 16, "train_freq": 4,
    "target_update_interval": 200, "learning_rate": 3e-3, "exploration_fraction": 0.3,
    "sequence_length": 16, "sequence_stride": 4, "burn_in": 2, "normalize_obs": False,
    "eval_freq": 500, "n_eval_episodes": 30,
    # The previous action is an input channel a feed-forward net can use as a memory bit
    # (act the cue, then repeat it): off, so that only the encoder can remember.
    "prev_action_input": False,
}  # fmt: skip


@pytest.mark.parametrize(
    ("encoder", "kwargs", "solved"),
    [
        ("gru", {"hidden_size": 32}, True),
        ("esn", {"units": 100}, True),
        ("feedforward", {"hidden_sizes": (32,)}, False),
    ],
)
def test_recall_after_k_steps(encoder, kwargs, solved):
    """Recurrent encoders reach the optimum (1.0 on 30 fresh episodes) within 3000 steps;
    the feed-forward control cannot (it has no memory)."""
    env = gym.vector.SyncVectorEnv([lambda: RecallEnv(8) for _ in range(4)])
    agent = RecurrentDQN(
        env, encoder=encoder, encoder_kwargs=kwargs, eval_env=lambda: RecallEnv(8), seed=0, **RECALL
    )
    agent.learn(3000)
    if solved:
        assert agent.best_mean_reward == 1.0
        agent.restore_best()
        assert agent.evaluate(np.arange(100, 200))[0].mean() == 1.0
    else:
        assert agent.best_mean_reward < 0.7
