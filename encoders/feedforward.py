"""Memoryless baselines (a per-frame MLP, a stack of the last ``k`` frames) and MLP helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
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
    (~4 µs an op) costs about three times the arithmetic of a 256×256 MLP. The weight views
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


# Elements per vector of the widest CPU kernels (AVX-512 floats): a tensor of a multiple of
# this many elements is computed by vector code only.
WHOLE_VECTORS = 16


def _aligned(x: torch.Tensor) -> torch.Tensor:
    """``x[S, ...]`` with each slice ``x[s]`` contiguous and starting at a 64-byte boundary
    (copied only when it is not): MKL's CPU products with a bias round differently for
    inputs that are not 16-byte aligned, and a seed's own inputs are freshly allocated."""
    per_seed = x[0].numel()
    if x.device.type != "cpu" or (
        x[0].is_contiguous()
        and x.data_ptr() % 64 == 0
        and (x.stride(0) * x.element_size()) % 64 == 0
    ):
        return x
    stride = -(-per_seed // WHOLE_VECTORS) * WHOLE_VECTORS
    out = x.new_empty(x.shape[0], stride)[:, :per_seed]
    out.copy_(x.reshape(x.shape[0], per_seed))
    return out.unflatten(1, x.shape[1:])


class _StackedLinear(torch.autograd.Function):
    """``x[S, N, I] @ W[S, O, I]ᵀ + b[S, O]`` as one batched product, whose weight gradient is
    ``gᵀ x`` as ``nn.Linear``'s is (bmm's own backward forms ``xᵀ g`` and transposes it,
    which rounds differently for narrow inputs), so each slice is bitwise the product and
    gradients of the seed's own ``nn.Linear``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = _aligned(x)
        ctx.save_for_backward(x, weight)
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad_x = grad.bmm(weight) if ctx.needs_input_grad[0] else None
        grad_weight = grad.transpose(1, 2).bmm(x) if ctx.needs_input_grad[1] else None
        grad_bias = grad.sum(1) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


class StackedMLP(nn.Module):
    """``S`` MLPs of one architecture (what :class:`NumpyMLP` runs: ``Linear`` with bias and
    elementwise activations) as one module whose parameters are stacked ``[S, ...]``, copied
    from the nets: ``x[S, N, F]`` -> ``[S, N, O]``, slice ``s`` computed as net ``s`` computes it.

    Why by hand: ``torch.func.vmap`` over ``functional_call`` pays its batching machinery on
    every call, the per-call cost that stacking seeds is meant to remove.

    Args:
        nets: the ``S`` networks (same layer types and shapes).
        requires_grad: whether the stacked parameters are trained.
    """

    def __init__(self, nets: Sequence[nn.Module], requires_grad: bool = True) -> None:
        super().__init__()
        stacks = [_leaf_layers(net) for net in nets]
        first = stacks[0]
        for layers in stacks:
            if [type(m) for m in layers] != [type(m) for m in first] or [
                tuple(p.shape) for m in layers for p in m.parameters()
            ] != [tuple(p.shape) for m in first for p in m.parameters()]:
                raise ValueError("StackedMLP needs networks of one architecture")
        if not self.supports(nets[0]):
            raise ValueError(
                f"StackedMLP runs Linear layers (with bias) and activations: {nets[0]}"
            )
        self.activations = [None if type(m) is nn.Linear else m for m in first]
        # weight, bias of each Linear in turn: the order of each net's parameters()
        self.stacked = nn.ParameterList()
        with torch.no_grad():
            for i, m in enumerate(first):
                for name, _ in m.named_parameters():
                    stacked = torch.stack([getattr(layers[i], name) for layers in stacks])
                    self.stacked.append(nn.Parameter(stacked, requires_grad=requires_grad))
        self._nets = list(nets)

    @staticmethod
    def supports(net: nn.Module) -> bool:
        """Whether ``net`` is a stack of ``Linear`` layers with bias and activations."""
        return all(
            (type(m) is nn.Linear and m.bias is not None) or type(m) in NUMPY_ACTIVATIONS
            for m in _leaf_layers(net)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x[S, N, F]`` -> ``[S, N, O]``."""
        linear = 0
        for activation in self.activations:
            if activation is not None:
                x = self._activate(activation, x)
                continue
            x = _StackedLinear.apply(x, self.stacked[linear], self.stacked[linear + 1])
            linear += 2
        return x

    def forward_each(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Net ``s`` on ``inputs[s][N_s, F]`` -> ``[N_s, O]`` for each seed: products of its own
        rows, as its own net computes them (row counts may differ: MKL's rounding depends
        on a product's row count), with views of the stacked parameters."""
        outputs = []
        for s, x in enumerate(inputs):
            linear = 0
            for activation in self.activations:
                if activation is not None:
                    x = activation(x)
                    continue
                x = F.linear(x, self.stacked[linear][s], self.stacked[linear + 1][s])
                linear += 2
            outputs.append(x)
        return outputs

    @staticmethod
    def _activate(activation: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``activation(x)``. The CPU kernels of exp-based activations compute a tensor's last
        elements (fewer than a vector) with scalar code that rounds differently, so unless
        every seed's slice is whole vectors they run on each seed's slice."""
        exact = type(activation) in (nn.ReLU, nn.Identity) or x.device.type != "cpu"
        if exact or x[0].numel() % WHOLE_VECTORS == 0:
            return activation(x)
        return torch.stack([activation(x[s]) for s in range(x.shape[0])])

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy slice ``s`` of every stacked parameter into net ``s`` (in place)."""
        for s, net in enumerate(self._nets):
            for own, stacked in zip(net.parameters(), self.stacked, strict=True):
                own.copy_(stacked[s])


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
