"""EncodedObservation and the SB3 features extractor: any SB3 algorithm gets memory."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy

import stateful_rl.envs  # noqa: F401  (registers the stateful_rl/... ids)
from stateful_rl.encoders import EchoStateEncoder, FeedForwardEncoder, LSTMEncoder
from stateful_rl.encoders.sb3 import EncoderFeaturesExtractor
from stateful_rl.encoders.wrappers import EncodedObservation

ENV_ID = "stateful_rl/CartPoleNoVel-v0"


def encoded_env(units: int = 50, **kwargs) -> EncodedObservation:
    encoder = EchoStateEncoder(2, units, spectral_radius=0.9, leak_rate=0.5, input_connectivity=1.0)
    return EncodedObservation(gym.make(ENV_ID), encoder, **kwargs)


def test_observation_is_encoder_state() -> None:
    env = encoded_env(include_observation=True)
    assert env.observation_space.shape == (52,)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    raw = [obs[50:]]
    for action in (0, 1, 1):
        obs, *_ = env.step(action)
        raw.append(obs[50:])
    encoder = env.encoder
    x = torch.as_tensor(np.array(raw)).unsqueeze(1)
    starts = torch.zeros(4, 1, dtype=torch.bool)
    starts[0] = True
    states, _ = encoder(x, encoder.initial_state(1), starts)
    np.testing.assert_allclose(obs[:50], states[-1, 0].numpy(), rtol=1e-6)
    # reset restarts the memory: same first observation, same encoding
    first, _ = env.reset(seed=0)
    again, _ = env.reset(seed=0)
    np.testing.assert_array_equal(first, again)


def test_wrapper_and_extractor_errors() -> None:
    with pytest.raises(ValueError, match=r"encoder.input_dim is 3 .* has 2 entries"):
        EncodedObservation(gym.make(ENV_ID), EchoStateEncoder(3, 20))
    space = gym.spaces.Box(-1, 1, (2,))
    with pytest.raises(ValueError, match="carries a state"):
        EncoderFeaturesExtractor(space, LSTMEncoder(2, 8))
    with pytest.raises(ValueError, match="flattens to 2"):
        EncoderFeaturesExtractor(space, FeedForwardEncoder(4))


def test_ppo_runs_on_encoded_cartpole_novel() -> None:
    env = encoded_env()
    policy_kwargs = {
        "features_extractor_class": EncoderFeaturesExtractor,
        "features_extractor_kwargs": {"encoder": FeedForwardEncoder(50, (32,))},
        "net_arch": [],
    }
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=256,
        batch_size=64,
        n_epochs=2,
        seed=0,
        policy_kwargs=policy_kwargs,
        device="cpu",
    )
    model.learn(1024)
    assert model.observation_space.shape == (50,)
    assert model.num_timesteps == 1024
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))


@pytest.mark.slow
def test_ppo_learns_with_echo_state_memory() -> None:
    """PPO on the ESN state of CartPole without velocities beats the memoryless PPO."""
    returns = {}
    for units in (0, 300):
        env = encoded_env(units, include_observation=True) if units else gym.make(ENV_ID)
        model = PPO("MlpPolicy", env, seed=0, device="cpu").learn(60_000)
        returns[units], _ = evaluate_policy(model, env, n_eval_episodes=20)
    assert returns[300] >= 150
    assert returns[300] >= 2 * returns[0]
