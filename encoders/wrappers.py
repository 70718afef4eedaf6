"""Gymnasium wrapper whose observation is a frozen encoder's state: memory for any agent.

``EncodedObservation(env, EchoStateEncoder(4, 500))`` gives an environment that any SB3
algorithm (PPO, DQN, ...) can learn on unchanged, the encoder carrying the history.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from stateful_rl.encoders.base import StateEncoder


class EncodedObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Replace the observation by ``encoder`` features of the observation history.

    The (flattened, float32) observation ``o_t`` goes through ``encoder.step`` with the
    state carried within an episode and reset at :meth:`reset`; the new observation is
    ``features_t`` (``[H]``), or ``[features_t, o_t]`` with ``include_observation``. The
    encoder is used as it is, frozen (``eval`` mode, no gradients).

    Args:
        env: any Gymnasium environment with a flattenable observation space.
        encoder: a :class:`StateEncoder` with ``input_dim`` = flat observation size.
        include_observation: append the raw observation to the features.
        device: where the encoder runs.
    """

    def __init__(
        self,
        env: gym.Env,
        encoder: StateEncoder,
        include_observation: bool = False,
        device: torch.device | str = "cpu",
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self,
            encoder=encoder,
            include_observation=include_observation,
            device=device,
            _disable_deepcopy=True,  # share the (possibly large) encoder, do not copy it
        )
        super().__init__(env)
        obs_dim = spaces.flatdim(env.observation_space)
        if obs_dim != encoder.input_dim:
            raise ValueError(
                f"encoder.input_dim is {encoder.input_dim} but the flattened observation of "
                f"{env.observation_space} has {obs_dim} entries"
            )
        self.encoder = encoder.to(device).eval()
        self.include_observation = include_observation
        self.device = torch.device(device)
        size = encoder.features_dim + (obs_dim if include_observation else 0)
        self.observation_space = spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self._state = encoder.initial_state(1, self.device)

    @torch.no_grad()
    def _encode(self, obs: Any, episode_start: bool) -> np.ndarray:
        flat = np.asarray(spaces.flatten(self.env.observation_space, obs), dtype=np.float32)
        x = torch.as_tensor(flat, device=self.device).unsqueeze(0)
        start = torch.tensor([episode_start], device=self.device)
        features, self._state = self.encoder.step(x, self._state, start)
        row = features[0].cpu().numpy().astype(np.float32)
        return np.concatenate([row, flat]) if self.include_observation else row

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the environment and the encoder state; observation ``[H (+ obs)]``."""
        obs, info = self.env.reset(seed=seed, options=options)
        return self._encode(obs, episode_start=True), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the environment and advance the encoder by one observation."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._encode(obs, episode_start=False), reward, terminated, truncated, info
