"""Stable-Baselines3 adapter: a memoryless :class:`StateEncoder` as a features extractor.

SB3's policies see one observation at a time and keep no state, so only encoders without
state (``initial_state(...) == ()``, e.g. :class:`FeedForwardEncoder`) fit here. For memory,
wrap the environment in :class:`~stateful_rl.encoders.wrappers.EncodedObservation` (frozen
encoder) or use a recurrent agent.

    PPO("MlpPolicy", env, policy_kwargs={"features_extractor_class": EncoderFeaturesExtractor,
        "features_extractor_kwargs": {"encoder": FeedForwardEncoder(4, (64,))}})
"""

from __future__ import annotations

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from stateful_rl.encoders.base import StateEncoder


class EncoderFeaturesExtractor(BaseFeaturesExtractor):
    """SB3 features extractor running a memoryless ``encoder`` on ``obs[B, F]`` -> ``[B, H]``."""

    def __init__(self, observation_space: spaces.Box, encoder: StateEncoder) -> None:
        if encoder.initial_state(1):
            raise ValueError(
                f"{type(encoder).__name__} carries a state, which SB3 policies cannot keep; "
                "wrap the env in EncodedObservation (frozen encoder) or use a recurrent agent"
            )
        if spaces.flatdim(observation_space) != encoder.input_dim:
            raise ValueError(
                f"encoder.input_dim is {encoder.input_dim} but the observation space "
                f"{observation_space} flattens to {spaces.flatdim(observation_space)}"
            )
        super().__init__(observation_space, encoder.features_dim)
        self.encoder = encoder

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """``observations[B, ...]`` -> ``features[B, H]`` (one step from the empty state)."""
        x = observations.flatten(1).unsqueeze(0)
        starts = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        features, _ = self.encoder(x, (), starts)
        return features.squeeze(0)
