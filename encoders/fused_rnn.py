"""One layer of torch's fused RNN kernels (oneDNN/ATen on CPU, cuDNN on GPU) on weights
that are not an ``nn.RNN``/``nn.LSTM``'s own, as the Elman and saturated-LSTM paths need.

Fast path: ATen's ops ``rnn_tanh``, ``rnn_relu`` and ``lstm``, which take the weights as a
list and the flags positionally; they are not public API, so each is probed at first use
against the fallback (:class:`~stateful_rl.adapters.FastPath`). Fallback: an
``nn.RNN``/``nn.LSTM`` run by ``torch.func.functional_call`` with the given tensors as its
parameters, the same kernel behind the module's checks (gradients reach the given tensors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call

from stateful_rl.adapters import FastPath

RNNKind = Literal["tanh", "relu", "lstm"]
KINDS: tuple[RNNKind, ...] = ("tanh", "relu", "lstm")
_WEIGHT_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
_GATES = {"tanh": 1, "relu": 1, "lstm": 4}


Layer = Callable[
    [RNNKind, torch.Tensor, tuple[torch.Tensor, ...], list[torch.Tensor], bool],
    tuple[torch.Tensor, tuple[torch.Tensor, ...]],
]


def _aten_layer(
    kind: RNNKind,
    x: torch.Tensor,
    hx: tuple[torch.Tensor, ...],
    weights: list[torch.Tensor],
    train: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """ATen's op; flags: has_biases, num_layers, dropout, train, bidirectional, batch_first."""
    if kind == "lstm":
        out, h, c = torch.lstm(x, hx, weights, True, 1, 0.0, train, False, False)
        return out, (h, c)
    op = torch.ops.aten.rnn_tanh if kind == "tanh" else torch.ops.aten.rnn_relu
    out, h = op.input(x, hx[0], weights, True, 1, 0.0, train, False, False)
    return out, (h,)


@cache
def _module(kind: RNNKind, input_size: int, hidden_size: int) -> nn.RNNBase:
    """A weightless (meta-device) one-layer module whose parameters ``functional_call``
    replaces; one per shape, shared."""
    if kind == "lstm":
        return nn.LSTM(input_size, hidden_size, device="meta")
    return nn.RNN(input_size, hidden_size, nonlinearity=kind, device="meta")


def _module_layer(
    kind: RNNKind,
    x: torch.Tensor,
    hx: tuple[torch.Tensor, ...],
    weights: list[torch.Tensor],
    train: bool,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """The public fallback: ``nn.RNN``/``nn.LSTM`` with ``weights`` as its parameters."""
    module = _module(kind, weights[0].shape[1], weights[1].shape[1]).train(train)
    parameters = dict(zip(_WEIGHT_NAMES, weights, strict=True))
    out, h = functional_call(module, parameters, (x, hx if kind == "lstm" else hx[0]))
    return out, (tuple(h) if kind == "lstm" else (h,))


def _probe(kind: RNNKind) -> Callable[[], bool]:
    """Float64 outputs and weight gradients of ATen's op equal the module's on a tiny input."""

    # the first use may come while acting (no_grad, inference mode): probe in a normal context
    @torch.inference_mode(False)
    @torch.enable_grad()
    def probe() -> bool:
        generator = torch.Generator().manual_seed(0)
        steps, batch, inputs, hidden = 3, 2, 2, 3

        def rand(*shape: int) -> torch.Tensor:
            return torch.rand(*shape, generator=generator, dtype=torch.float64) - 0.5

        gates = _GATES[kind] * hidden
        weights = [rand(gates, inputs), rand(gates, hidden), rand(gates), rand(gates)]
        x = rand(steps, batch, inputs)
        hx = tuple(rand(1, batch, hidden) for _ in range(2 if kind == "lstm" else 1))
        results = []
        layers: tuple[Layer, ...] = (_aten_layer, _module_layer)
        for layer in layers:
            leaves = [w.clone().requires_grad_(True) for w in weights]
            out, state = layer(kind, x, hx, leaves, True)
            loss = out.sum() + sum(s.square().sum() for s in state)
            results.append([out, *state, *torch.autograd.grad(loss, leaves)])
        return all(
            a.shape == b.shape and torch.allclose(a, b, rtol=1e-10, atol=1e-12)
            for a, b in zip(*results, strict=True)
        )

    return probe


ATEN_RNN: dict[RNNKind, FastPath] = {
    kind: FastPath(f"torch.ops.aten.{'lstm' if kind == 'lstm' else 'rnn_' + kind}", _probe(kind))
    for kind in KINDS
}


def rnn_layer(
    kind: RNNKind,
    x: torch.Tensor,
    hx: tuple[torch.Tensor, ...],
    weights: Sequence[torch.Tensor],
    train: bool = True,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """One fused RNN layer, no dropout, time-major.

    ``x[T, B, F]``; ``hx``: ``(h0[1, B, H],)``, or ``(h0, c0)`` for the LSTM; ``weights``:
    ``[W_ih[G H, F], W_hh[G H, H], b_ih[G H], b_hh[G H]]`` in torch's layout (``G`` = 4 for
    the LSTM, gate order i, f, g, o; 1 otherwise). Returns ``out[T, B, H]`` (``h_t``) and
    the final state, shaped as ``hx``. ``train=False`` lets cuDNN skip what its backward
    needs (no gradients then); on CPU it changes nothing.
    """
    layer = _aten_layer if ATEN_RNN[kind]() else _module_layer
    return layer(kind, x, hx, list(weights), train)
