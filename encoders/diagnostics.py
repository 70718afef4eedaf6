"""Gradient diagnostics for recurrent encoders (seed lecture; Pascanu, Mikolov & Bengio 2013).

BPTT multiplies Jacobians: ∂r_T/∂r_k = Π_{t=k+1..T} W_rec diag(σ'(r_{t-1})) for the Elman
form, so ‖∂r_T/∂r_k‖ shrinks or grows geometrically in ``T - k`` with the leading
eigenvalue of ``W_rec`` (../shared/REFERENCE.md §2).
"""

from __future__ import annotations

import torch

from stateful_rl.encoders.base import StateEncoder
from stateful_rl.encoders.echo_state import EchoStateEncoder
from stateful_rl.encoders.elman import ElmanEncoder


def gradient_norms_through_time(
    encoder: StateEncoder, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None
) -> torch.Tensor:
    """``‖∂h_T/∂s_k‖_F`` for ``k = 0..T-1``: how much the last features depend on each state.

    ``x[T, F]`` is one input sequence (no resets); ``s_k`` is the full state after step
    ``k`` (``s_0`` the initial state; all state tensors together) and ``h_T`` the features
    of the last step, so entry ``k`` is the gradient ``T - k`` steps back. Returns ``[T]``
    Frobenius norms (one backward pass per feature: for diagnostics, not training).
    """
    if x.dim() != 2 or x.shape[1] != encoder.input_dim:
        raise ValueError(f"x must have shape [T, {encoder.input_dim}], got {tuple(x.shape)}")
    if not encoder.trainable:
        raise ValueError(f"{type(encoder).__name__} is never trained: it has no gradients")
    no_start = torch.zeros(1, dtype=torch.bool, device=x.device)
    start = encoder.initial_state(1, x.device) if state is None else state
    if not start:
        raise ValueError(f"{type(encoder).__name__} has no state to differentiate through")
    states = [tuple(s.detach().clone().requires_grad_(True) for s in start)]
    for t in range(x.shape[0]):
        features, next_state = encoder.step(x[t : t + 1], states[-1], no_start)
        states.append(next_state)
    states.pop()  # s_T: the features of step T are computed alongside it, not from it
    inputs = [s for state_k in states for s in state_k]
    squares = torch.zeros(len(states), dtype=torch.float64, device=x.device)
    per_state = len(states[0])
    for j in range(features.shape[-1]):
        grads = torch.autograd.grad(features[0, j], inputs, retain_graph=True, allow_unused=True)
        for k in range(len(states)):
            for g in grads[k * per_state : (k + 1) * per_state]:
                if g is not None:
                    squares[k] += g.double().pow(2).sum()
    return squares.sqrt()


def recurrent_eigenvalues(encoder: StateEncoder) -> torch.Tensor:
    """Eigenvalues (complex, ``[N]``) of the recurrent matrix of an Elman or echo state
    encoder (dense eigendecomposition: meant for N up to a few thousand)."""
    if isinstance(encoder, ElmanEncoder):
        matrix = encoder.w_rec.detach()
    elif isinstance(encoder, EchoStateEncoder):
        matrix = encoder.w.to_dense() if encoder.w.is_sparse_csr else encoder.w
    else:
        raise ValueError(
            f"{type(encoder).__name__} has no single recurrent matrix; "
            "use an ElmanEncoder or an EchoStateEncoder"
        )
    return torch.linalg.eigvals(matrix.double().cpu())
