"""Gradient baselines for LRP: gradient×input and integrated gradients over time.

Thin wrappers around Captum's ``InputXGradient`` and ``IntegratedGradients`` (Sundararajan,
Taly & Yan 2017, "Axiomatic attribution for deep networks", eq. 1, zero baseline by
default) for any ``f: x[T, B, F] -> score[B]`` (or ``scores[B, C]`` with a ``target``: an
int or ``[B]`` long, e.g. an agent's Q-values and its chosen actions) in the project's
time-major layout (``batch_dim`` says where the batch is otherwise). They return
attributions shaped like ``x``, so they sit beside :func:`~.lrp.lstm_lrp` in one figure.
cuDNN is switched off while they run because its LSTM cannot backpropagate in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

ScoreFn = Callable[[Tensor], Tensor]


def _captum_attr() -> Any:
    """``captum.attr``, an optional dependency (``pip install "stateful-rl[explain]"``)."""
    try:
        import captum.attr
    except ImportError:
        raise ImportError(
            "gradient×input and integrated gradients need Captum: "
            'pip install "stateful-rl[explain]" (or pip install captum)'
        ) from None
    return captum.attr


Target = Tensor | int | None


def _batch_leading(f: ScoreFn, batch_dim: int, target: Target) -> ScoreFn:
    """``f`` seen by Captum, which puts (and expands) the batch on dim 0."""
    wanted = "[B]" if target is None else "[B, C]"

    def forward(x_batch_first: Tensor) -> Tensor:
        score = f(x_batch_first.movedim(0, batch_dim))
        if score.dim() != (1 if target is None else 2) or len(score) != len(x_batch_first):
            raise ValueError(
                f"f must map x to scores {wanted} with B={len(x_batch_first)}"
                f"{'' if target is None else ' (a target is given)'}, got {tuple(score.shape)}"
            )
        return score

    return forward


def gradient_x_input(f: ScoreFn, x: Tensor, *, target: Target = None, batch_dim: int = 1) -> Tensor:
    """``x * d f(x)[target] / d x``, shaped like ``x`` (``[T, B, F]`` with ``batch_dim=1``)."""
    with torch.backends.cudnn.flags(enabled=False):
        attribution = (
            _captum_attr()
            .InputXGradient(_batch_leading(f, batch_dim, target))
            .attribute(x.movedim(batch_dim, 0).detach().requires_grad_(), target=target)
        )
    return attribution.movedim(0, batch_dim)


def integrated_gradients(
    f: ScoreFn,
    x: Tensor,
    *,
    target: Target = None,
    baseline: Tensor | None = None,
    steps: int = 64,
    method: str = "gausslegendre",
    batch_dim: int = 1,
    internal_batch_size: int | None = None,
) -> Tensor:
    """Integrated gradients of ``f`` from ``baseline`` (zeros if ``None``) to ``x``, shaped
    like ``x``; completeness: the sum over ``T, F`` is ``f(x) - f(baseline)`` up to the
    ``steps``-point quadrature (``method``: Captum's ``gausslegendre``, ``riemann_trapezoid``,
    ...). ``internal_batch_size`` bounds how many of the ``steps * B`` sequences run at once.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if baseline is not None and baseline.shape != x.shape:
        raise ValueError(
            f"baseline must have x's shape {tuple(x.shape)}, got {tuple(baseline.shape)}"
        )
    with torch.backends.cudnn.flags(enabled=False):
        attribution = (
            _captum_attr()
            .IntegratedGradients(_batch_leading(f, batch_dim, target))
            .attribute(
                x.movedim(batch_dim, 0),
                target=target,
                baselines=None if baseline is None else baseline.movedim(batch_dim, 0),
                n_steps=steps,
                method=method,
                internal_batch_size=internal_batch_size,
            )
        )
    return attribution.movedim(0, batch_dim)
