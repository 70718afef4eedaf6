"""Elman RNN in the seed's pre-activation form (lecture "Stateful DNNs", ../shared/REFERENCE.md §2).

    r_t = W_in x_t + W_rec σ(r_{t-1}) + b,    r_0 = 0 at every episode start.

The state and the features are the pre-activations ``r_t``; with ``σ`` = tanh this is
``nn.RNN`` with ``h_t = σ(r_t)``, with ``σ`` = identity it is the forward-Euler discretised
linear system ``dr/dt = A r + B x``, ``W_rec = I + Δt A`` (:meth:`ElmanEncoder.from_dynamics`).
A sequence with no reset after its first step runs as one fused RNN kernel call for tanh
and ReLU (``h_t`` for every ``t``, :func:`~stateful_rl.encoders.fused_rnn.rnn_layer`), then
``r_t = W_in x_t + W_rec h_{t-1} + b`` in one batched matmul; resets inside a sequence run
the exact step loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import nn

from stateful_rl.encoders.base import State, StateEncoder
from stateful_rl.encoders.fused_rnn import RNNKind, rnn_layer

Activation = Literal["tanh", "relu", "linear"]
RecurrentInit = Literal["eigen", "orthogonal"]
_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "linear": lambda r: r,
}


def leading_eigenvalue_modulus(matrix: torch.Tensor) -> float:
    """``max |λ|`` over the eigenvalues of a dense square matrix (float64 eigvals)."""
    return float(torch.linalg.eigvals(matrix.detach().double().cpu()).abs().max())


class ElmanEncoder(StateEncoder):
    """Elman RNN ``r_t = W_in x_t + W_rec σ(r_{t-1}) + b`` (pre-activation state).

    Args:
        input_dim: observation size ``F``.
        hidden_size: ``N`` = ``features_dim``.
        activation: ``σ``: ``"tanh"``, ``"relu"`` or ``"linear"``.
        init: ``"eigen"``: Gaussian ``W_rec`` rescaled so its leading eigenvalue has modulus
            ``leading_eigenvalue``; ``"orthogonal"``: an orthogonal matrix times it.
        leading_eigenvalue: modulus of the leading eigenvalue of ``W_rec`` at init.
        generator: torch generator for the initial weights (default: global RNG).
        fused: run reset-free sequences as one fused RNN kernel call (tanh and ReLU; same
            outputs and gradients as the step loop, in one kernel instead of ``T`` steps).
    """

    def __init__(
        self,
        input_dim: int,
        hidden_size: int = 64,
        activation: Activation = "tanh",
        init: RecurrentInit = "eigen",
        leading_eigenvalue: float = 0.95,
        generator: torch.Generator | None = None,
        fused: bool = True,
    ) -> None:
        super().__init__()
        if input_dim < 1 or hidden_size < 1:
            raise ValueError(
                f"input_dim and hidden_size must be >= 1, got {input_dim} and {hidden_size}"
            )
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        if init not in ("eigen", "orthogonal"):
            raise ValueError(f"init must be 'eigen' or 'orthogonal', got {init!r}")
        if leading_eigenvalue <= 0:
            raise ValueError(f"leading_eigenvalue must be > 0, got {leading_eigenvalue}")
        self.input_dim = input_dim
        self.features_dim = hidden_size
        self.activation = activation
        self.sigma = _ACTIVATIONS[activation]
        self.fused = fused
        self.init = init
        self.leading_eigenvalue = leading_eigenvalue
        self.w_in = nn.Parameter(torch.empty(hidden_size, input_dim))
        self.w_rec = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size))
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """``W_in`` uniform(±1/√F), ``b = 0`` and ``W_rec`` by ``init``, scaled so that its
        leading eigenvalue has modulus ``leading_eigenvalue`` (drawn in this order)."""
        hidden_size, input_dim = self.w_in.shape
        bound = 1.0 / np.sqrt(input_dim)
        self.w_in.copy_((torch.rand(hidden_size, input_dim, generator=generator) * 2 - 1) * bound)
        self.bias.zero_()
        gauss = torch.randn(hidden_size, hidden_size, generator=generator)
        if self.init == "orthogonal":
            w_rec = torch.linalg.qr(gauss).Q * self.leading_eigenvalue
        else:
            w_rec = gauss * (self.leading_eigenvalue / leading_eigenvalue_modulus(gauss))
        self.w_rec.copy_(w_rec)

    @classmethod
    def from_dynamics(
        cls,
        a: np.ndarray | torch.Tensor,
        dt: float,
        input_dim: int,
        b: np.ndarray | torch.Tensor | None = None,
        activation: Activation = "linear",
        dtype: torch.dtype = torch.float32,
    ) -> ElmanEncoder:
        """Forward Euler of ``dr/dt = A r + B x``: ``W_rec = I + Δt A``, ``W_in = Δt B``.

        ``a``: ``[N, N]``; ``b``: ``[N, input_dim]`` (random init when ``None``); ``dt`` in
        the time unit of ``A``; weights in ``dtype`` (float64 reproduces a float64 Euler
        integration to rounding). With ``σ`` linear the encoder *is* the discretised system.
        """
        a = torch.as_tensor(a, dtype=dtype)
        if a.dim() != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"A must be a square matrix, got shape {tuple(a.shape)}")
        if not dt > 0 or not np.isfinite(dt):
            raise ValueError(f"dt must be finite and > 0, got {dt}")
        encoder = cls(input_dim, a.shape[0], activation=activation).to(dtype)
        with torch.no_grad():
            encoder.w_rec.copy_(torch.eye(a.shape[0], dtype=dtype) + dt * a)
            if b is not None:
                b = torch.as_tensor(b, dtype=dtype)
                if tuple(b.shape) != (a.shape[0], input_dim):
                    raise ValueError(
                        f"B must have shape {(a.shape[0], input_dim)}, got {tuple(b.shape)}"
                    )
                encoder.w_in.copy_(dt * b)
        return encoder

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """``r_0 = 0``: one tensor ``[B, N]``."""
        return (torch.zeros(batch_size, self.features_dim, device=device, dtype=self.w_rec.dtype),)

    def forward(
        self, x: torch.Tensor, state: State, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """``x[T, B, F]`` -> ``r[T, B, N]`` (pre-activations) and the last ``r``."""
        self.check_input(x, episode_starts)
        drive = x @ self.w_in.T + self.bias  # W_in x_t + b for every t at once
        keep = (~episode_starts.bool()).unsqueeze(-1).to(x.dtype)
        r = state[0]
        if self.fused and self.activation != "linear" and not episode_starts[1:].any():
            h0 = self.sigma(r * keep[0])
            weights = [self.w_in, self.w_rec, self.bias, torch.zeros_like(self.bias)]
            kind: RNNKind = "tanh" if self.activation == "tanh" else "relu"
            h, _ = rnn_layer(kind, x, (h0[None],), weights)
            features = drive + torch.cat([h0[None], h[:-1]]) @ self.w_rec.T
            return features, (features[-1],)
        outputs = []
        for t in range(x.shape[0]):
            r = drive[t] + self.sigma(r * keep[t]) @ self.w_rec.T
            outputs.append(r)
        return torch.stack(outputs), (r,)
