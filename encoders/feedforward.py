"""Memoryless baselines (a per-frame MLP, a stack of the last ``k`` frames) and MLP helpers."""

from __future__ import annotations

import itertools
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


# Elements per vector of the widest CPU kernels (AVX-512 floats): a tensor of a multiple of
# this many elements is computed by vector code only.
WHOLE_VECTORS = 16


def aligned(x: torch.Tensor) -> torch.Tensor:
    """``x[S, ...]`` with each slice ``x[s]`` contiguous and starting at a 64-byte boundary
    (copied only when it is not): MKL's CPU products round differently for operands that
    are not 16-byte aligned, and a seed's own tensors are freshly allocated (aligned)."""
    if x.device.type != "cpu" or (
        x[0].is_contiguous()
        and x.data_ptr() % 64 == 0
        and (x.stride(0) * x.element_size()) % 64 == 0
    ):
        return x
    out = aligned_empty(x.shape, x)
    out.copy_(x)
    return out


def aligned_empty(shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised ``[S, ...]`` tensor whose slices start at 64-byte boundaries."""
    per_seed = math.prod(shape[1:])
    stride = -(-per_seed // WHOLE_VECTORS) * WHOLE_VECTORS
    return like.new_empty(shape[0], stride)[:, :per_seed].unflatten(1, tuple(shape[1:]))


def _tiny(contraction: int, rows: int, columns: int) -> bool:
    """Whether torch's CPU ``bmm`` computes such a product with its own loops instead of
    MKL's (under 400 multiply-adds per slice), which round differently from ``mm``."""
    return contraction * rows * columns < 400


class StackedMLP(nn.Module):
    """``S`` ReLU MLPs of one architecture (``Linear`` layers with bias, ``ReLU`` between
    them) as one module whose parameters are stacked ``[S, ...]``, copied from the nets:
    ``x[S, N, F]`` -> ``[S, N, O]``, slice ``s`` computed as net ``s`` computes it, bit for bit
    on CPU: each product is the seed's own (``baddbmm`` slice ``s`` is net ``s``'s ``addmm``),
    and each gradient is formed as autograd forms the seed's (the weight's as ``gᵀ x``).

    :meth:`forward_train` and :meth:`backward` do by hand what autograd would, into buffers
    kept from one update to the next: fresh multi-megabyte gradient and activation tensors
    every update (``S`` seeds' worth) are returned to the system and faulted in again each
    time, which costs as much as the products. ``torch.func.vmap`` is not used for the same
    reason: its batching machinery is paid on every call, the per-call cost that stacking
    seeds removes.

    Args:
        nets: the ``S`` networks (same layer types and shapes).
    """

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        stacks = [_leaf_layers(net) for net in nets]
        first = stacks[0]
        for layers in stacks:
            if [type(m) for m in layers] != [type(m) for m in first] or [
                tuple(p.shape) for m in layers for p in m.parameters()
            ] != [tuple(p.shape) for m in first for p in m.parameters()]:
                raise ValueError("StackedMLP needs networks of one architecture")
        if not self.supports(nets[0]):
            raise ValueError(f"StackedMLP runs Linear layers (with bias) and ReLU: {nets[0]}")
        layers = [m for m in first if type(m) is not nn.Identity]
        self.relu_after = [  # per Linear: whether a ReLU follows it
            type(m) is nn.Linear and i + 1 < len(layers) and type(layers[i + 1]) is nn.ReLU
            for i, m in enumerate(layers)
            if type(m) is nn.Linear
        ]
        # weight, bias of each Linear in turn: the order of each net's parameters()
        self.stacked = nn.ParameterList()
        with torch.no_grad():
            for i, m in enumerate(first):
                for name, _ in m.named_parameters():
                    stacked = torch.stack([getattr(layers[i], name) for layers in stacks])
                    self.stacked.append(nn.Parameter(aligned(stacked)))
        self._nets = list(nets)
        self._buffers_kept: dict[tuple, torch.Tensor] = {}
        self._inputs: list[torch.Tensor] = []

    @staticmethod
    def supports(net: nn.Module) -> bool:
        """Whether ``net`` is a stack of ``Linear`` layers with bias and ``ReLU`` s."""
        layers = [m for m in _leaf_layers(net) if type(m) is not nn.Identity]
        return (
            bool(layers)
            and type(layers[0]) is nn.Linear
            and all(
                (type(m) is nn.Linear and m.bias is not None) or type(m) is nn.ReLU for m in layers
            )
            and all(
                type(a) is nn.Linear or type(b) is nn.Linear for a, b in itertools.pairwise(layers)
            )
        )

    def _buffer(self, key: tuple, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A tensor kept under ``key`` (made again when ``shape`` changes)."""
        buffer = self._buffers_kept.get(key)
        if buffer is None or buffer.shape != shape:
            buffer = self._buffers_kept[key] = aligned_empty(shape, like)
        return buffer

    @torch.no_grad()
    def forward(self, x: torch.Tensor, train: bool = False) -> torch.Tensor:
        """``x[S, N, F]`` -> ``[S, N, O]`` (without autograd). The result lives in a kept
        buffer, valid until the next call with the same ``train``; ``train`` keeps the
        layers' inputs for :meth:`backward`."""
        inputs = []
        for i, relu in enumerate(self.relu_after):
            weight, bias = self.stacked[2 * i], self.stacked[2 * i + 1]
            x = aligned(x)
            inputs.append(x)
            out = self._buffer(("out", train, i), (*x.shape[:2], weight.shape[1]), x)
            if _tiny(x.shape[1], x.shape[2], weight.shape[1]):
                for s in range(len(x)):
                    out[s] = torch.addmm(bias[s], x[s], weight[s].t())
            else:
                torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2), out=out)
            x = out.relu_() if relu else out
        if train:
            self._inputs = inputs
        return x

    def forward_train(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` that keeps what :meth:`backward` needs."""
        return self.forward(x, train=True)

    @torch.no_grad()
    def backward(self, grad: torch.Tensor) -> None:
        """Set each stacked parameter's ``.grad`` (kept buffers, overwritten) to the gradient of
        a loss whose gradient with respect to the last :meth:`forward_train` output is
        ``grad[S, N, O]``, formed as autograd forms each seed's."""
        grad = aligned(grad)
        for i in reversed(range(len(self.relu_after))):
            weight, bias = self.stacked[2 * i], self.stacked[2 * i + 1]
            x = self._inputs[i]
            for param in (weight, bias):
                if param.grad is None:
                    param.grad = aligned_empty(param.shape, param)
            rows, inputs, outputs = x.shape[1], x.shape[2], weight.shape[1]
            if _tiny(rows, outputs, inputs):
                for s in range(len(x)):
                    weight.grad[s] = grad[s].t().mm(x[s])
            else:
                torch.bmm(grad.transpose(1, 2), x, out=weight.grad)
            torch.sum(grad, 1, out=bias.grad)
            if i == 0:
                break
            grad_x = self._buffer(("grad", i), tuple(x.shape), x)
            if _tiny(outputs, rows, inputs):
                for s in range(len(x)):
                    grad_x[s] = grad[s].mm(weight[s])
            else:
                torch.bmm(grad, weight, out=grad_x)
            if self.relu_after[i - 1]:  # x is the ReLU's output: autograd's ReLU backward
                torch.ops.aten.threshold_backward.grad_input(grad_x, x, 0, grad_input=grad_x)
            grad = grad_x

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
