"""The one interface every state encoder implements.

Shapes: sequences are time-major, ``x[T, B, F]`` with ``episode_starts[T, B]`` (bool);
a recurrent state is a tuple of tensors, each batch-first (``[B, ...]``), so that replay
buffers can store, index and concatenate states without knowing the encoder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

State = tuple[torch.Tensor, ...]


class StateEncoder(nn.Module, ABC):
    """Maps an observation sequence to a feature sequence, carrying a recurrent state.

    Subclasses set ``input_dim`` and ``features_dim`` and implement :meth:`initial_state`,
    :meth:`forward` and, when they have weights, :meth:`reset_parameters`; :meth:`step` (one
    time step, for acting) comes for free. ``trainable`` is False for encoders whose weights
    are never trained (echo state).
    """

    input_dim: int
    features_dim: int
    trainable: bool = True

    @abstractmethod
    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """The state at an episode start: a tuple of batch-first tensors ``[B, ...]``."""

    @abstractmethod
    def forward(
        self, x: torch.Tensor, state: State, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """Encode ``x[T, B, F]`` from ``state``; wherever ``episode_starts[t, b]`` is true the
        state of sequence ``b`` is reset to the initial state before step ``t`` is read.

        Returns ``features[T, B, features_dim]`` and the state after the last step.
        """

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw the weights again as the constructor does (to train from scratch).

        With the same torch seed (``generator``, else the global RNG) the weights equal
        those of an encoder built with the same arguments. The default raises
        ``NotImplementedError`` when the encoder has weights: an init is each encoder's own
        (gate biases, spectral scaling), and torch's default ``reset_parameters`` of its
        submodules would silently drop it; an encoder without weights has nothing to reset.
        """
        if any(True for _ in self.parameters()) or any(True for _ in self.buffers()):
            raise NotImplementedError(
                f"{type(self).__name__} has weights but does not implement reset_parameters"
            )

    def step(
        self, x: torch.Tensor, state: State, episode_start: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """One time step for acting: ``x[B, F]``, ``episode_start[B]`` -> ``features[B, H]``."""
        features, state = self(x.unsqueeze(0), state, episode_start.unsqueeze(0))
        return features.squeeze(0), state

    def reset_where(self, state: State, mask: torch.Tensor) -> State:
        """Replace the state of the sequences where ``mask[B]`` is true by the initial state."""
        init = self.initial_state(mask.shape[0], mask.device)
        return tuple(
            torch.where(mask.view(-1, *([1] * (s.dim() - 1))), i.to(s.dtype), s)
            for s, i in zip(state, init, strict=True)
        )

    def check_input(self, x: torch.Tensor, episode_starts: torch.Tensor | None) -> None:
        """Raise a ``ValueError`` naming the problem if ``x`` or ``episode_starts`` is malformed."""
        if x.dim() != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(
                f"{type(self).__name__} expects x of shape [T, B, {self.input_dim}], "
                f"got {tuple(x.shape)}"
            )
        if episode_starts is None:
            raise ValueError(
                f"{type(self).__name__}.forward needs episode_starts[T, B] (bool); got None"
            )
        if tuple(episode_starts.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"episode_starts must have shape {tuple(x.shape[:2])} (= x[T, B]), "
                f"got {tuple(episode_starts.shape)}"
            )
