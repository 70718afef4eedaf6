"""Memoryless baselines (a per-frame MLP, a stack of the last ``k`` frames) and MLP helpers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.reciprocal(np.exp(np.negative(x, out=x), out=x) + 1.0, out=x)


NUMPY_ACTIVATIONS: dict[type[nn.Module], Callable[[np.ndarray], np.ndarray]] = {
    nn.ReLU: lambda x: np.maximum(x, 0.0, out=x),
    nn.Tanh: lambda x: np.tanh(x, out=x),
    nn.Sigmoid: _sigmoid,
    nn.Identity: lambda x: x,
}


def _leaf_layers(net: nn.Module) -> list[nn.Module]:
    """``net``'s modules in order, nested ``Sequential`` s flattened away."""
    return [m for m in net.modules() if not isinstance(m, nn.Sequential)]


class NumpyMLP:
    """A CPU float32 MLP (``Linear`` and the activations of ``NUMPY_ACTIVATIONS``, nested
    ``Sequential`` s allowed) evaluated in numpy on views of the module's current weights.

    Why by hand: acting feeds one observation per env step, where torch's per-op dispatch
    costs more than the arithmetic of a small MLP. The weight views
    are rebuilt whenever a parameter's storage changes (``.to()``, copies, unpickling).
    """

    def __init__(self, net: nn.Module) -> None:
        if not self.supports(net):
            raise ValueError(f"NumpyMLP runs CPU float32 Linear/activation stacks, got {net}")
        self.net = net
        self.layers = _leaf_layers(net)
        self._params = list(net.parameters())
        self._key: list[int] = []
        self._weights: list[tuple[np.ndarray, np.ndarray | None] | None] = []

    @staticmethod
    def supports(net: nn.Module) -> bool:
        """Whether ``net`` is a CPU float32 stack of supported layers."""
        layers = _leaf_layers(net)
        return all(type(m) is nn.Linear or type(m) in NUMPY_ACTIVATIONS for m in layers) and all(
            p.device.type == "cpu" and p.dtype == torch.float32 for p in net.parameters()
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x[N, F]`` -> outputs ``[N, O]``."""
        key = [p.data_ptr() for p in self._params]
        if key != self._key:
            if not self.supports(self.net):
                raise TypeError(f"NumpyMLP: the net is no longer a CPU float32 MLP: {self.net}")
            self._weights = [
                (m.weight.detach().numpy().T, None if m.bias is None else m.bias.detach().numpy())
                if type(m) is nn.Linear
                else None
                for m in self.layers
            ]
            self._key = key
        x = np.array(x, dtype=np.float32)  # a copy: activations work in place
        for layer, weights in zip(self.layers, self._weights, strict=True):
            if weights is None:
                x = NUMPY_ACTIVATIONS[type(layer)](x)
                continue
            x = x @ weights[0]
            if weights[1] is not None:
                x += weights[1]
        return x


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
        with torch.device("meta"):  # no draw here: construction draws as reset_parameters
            self.net = mlp(input_dim, hidden_sizes, activation)
        self.net.to_empty(device=torch.empty(0).device)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """``nn.Linear``'s init, layer by layer: weight and bias uniform(±1/√fan_in)."""
        for layer in self.net.modules():
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(layer.in_features)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

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

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """The MLP's init (:meth:`FeedForwardEncoder.reset_parameters`); a raw stack has none."""
        self.head.reset_parameters(generator)

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
