"""Memoryless baselines: a per-frame MLP and a stack of the last ``k`` frames."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from stateful_rl.encoders.base import State, StateEncoder


def mlp(input_dim: int, hidden_sizes: Sequence[int], activation: type[nn.Module]) -> nn.Module:
    """``Linear -> activation`` per hidden size; the identity when ``hidden_sizes`` is empty."""
    if any(h < 1 for h in hidden_sizes):
        raise ValueError(f"hidden_sizes must all be >= 1, got {tuple(hidden_sizes)}")
    layers: list[nn.Module] = []
    for size in hidden_sizes:
        layers += [nn.Linear(input_dim, size), activation()]
        input_dim = size
    return nn.Sequential(*layers)


class FeedForwardEncoder(StateEncoder):
    """Per-frame MLP: ``features_t = MLP(x_t)``; no state (``initial_state`` is ``()``).

    Args:
        input_dim: observation size ``F``.
        hidden_sizes: MLP widths; ``()`` passes the observation through (``H = F``).
        activation: activation module class between layers.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: type[nn.Module] = nn.Tanh,
    ) -> None:
        super().__init__()
        if input_dim < 1:
            raise ValueError(f"input_dim must be >= 1, got {input_dim}")
        self.input_dim = input_dim
        self.features_dim = hidden_sizes[-1] if hidden_sizes else input_dim
        self.trainable = bool(hidden_sizes)
        self.net = mlp(input_dim, hidden_sizes, activation)

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """No state: the empty tuple."""
        return ()

    def forward(
        self, x: torch.Tensor, state: State, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """``x[T, B, F]`` -> ``features[T, B, H]``; ``state`` is ``()`` in and out."""
        self.check_input(x, episode_starts)
        return self.net(x), state


class FrameStackEncoder(StateEncoder):
    """The last ``k`` frames, newest first, concatenated (then an optional MLP).

    Frames from before an episode start (and before the first step) are zeros, exactly as
    a fresh stack. State: the ``k - 1`` previous frames, ``[B, k - 1, F]``, newest first.

    Args:
        input_dim: observation size ``F``.
        k: frames per stack (``k = 1`` is a per-frame encoder).
        hidden_sizes: MLP widths on the stack; ``()`` gives the raw stack (``H = k F``).
        activation: activation module class between layers.
    """

    def __init__(
        self,
        input_dim: int,
        k: int = 4,
        hidden_sizes: Sequence[int] = (),
        activation: type[nn.Module] = nn.Tanh,
    ) -> None:
        super().__init__()
        if input_dim < 1 or k < 1:
            raise ValueError(f"input_dim and k must be >= 1, got {input_dim} and {k}")
        self.input_dim = input_dim
        self.k = k
        self.head = FeedForwardEncoder(input_dim * k, hidden_sizes, activation)
        self.features_dim = self.head.features_dim
        self.trainable = self.head.trainable

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """Zeros ``[B, k - 1, F]``."""
        return (torch.zeros(batch_size, self.k - 1, self.input_dim, device=device),)

    def forward(
        self, x: torch.Tensor, state: State, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """``x[T, B, F]`` -> ``features[T, B, H]``; resets zero the older frames exactly."""
        self.check_input(x, episode_starts)
        steps, batch, _ = x.shape
        starts = episode_starts.bool()
        past = state[0].to(x.dtype).flip(1).transpose(0, 1)  # [k-1, B, F], oldest first
        frames = torch.cat([past, x])  # frame t of the sequence is frames[t + k - 1]
        time = torch.arange(steps, device=x.device).unsqueeze(1).expand(steps, batch)
        # step of the latest episode start at or before t (-k: none, the stored past is valid)
        latest = torch.where(starts, time, torch.full_like(time, -self.k))
        latest = torch.cummax(latest, dim=0).values
        stacks = []
        for lag in range(self.k):
            valid = (time - lag >= latest).unsqueeze(-1)
            frame = frames[self.k - 1 - lag : self.k - 1 - lag + steps]
            stacks.append(torch.where(valid, frame, torch.zeros_like(frame)))
        stacked = torch.cat(stacks, dim=-1)  # [T, B, k F], newest first
        new_past = stacked[-1, :, : (self.k - 1) * self.input_dim]
        features, _ = self.head(stacked, (), episode_starts)
        return features, (new_past.reshape(batch, self.k - 1, self.input_dim),)
