"""Mackey-Glass time series from its delay differential equation (Mackey & Glass 1977).

    dx/dt = a x(t - τ) / (1 + x(t - τ)^n) - b x(t),    τ = 17, a = 0.2, b = 0.1, n = 10.

Integrated with a fixed step ``h`` (time units per sample) by the one-step scheme of
reservoirpy 0.4's ``datasets.mackey_glass``, so that the two series are the same number for
number (the benchmark compares ESNs on one series): the delayed value ``x(t - τ)`` is the
sample ``τ/h`` steps back, held constant over the step, and the step is

    k1 = h f(x, x_τ),  k2 = (2 - b h) k1,  k3 = 2 k1 - b h k2,  k4 = k1 - b h k3,
    x ← x + (k1 + k2 + k3 + k4) / 6,

with ``f(x, x_τ) = a x_τ / (1 + x_τ^n) - b x`` (for ``h = 1``: reservoirpy's ``_mg_rk4``;
a Runge-Kutta-like update of the linear decay with the delayed drive frozen, not classical
RK4). The history before ``t = 0`` is ``x0 + 0.2 (u - 0.5)``, ``u ~ U[0, 1)`` from
``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np


def mackey_glass(
    steps: int,
    tau: int = 17,
    a: float = 0.2,
    b: float = 0.1,
    n: int = 10,
    x0: float = 1.2,
    h: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """``steps`` samples of the Mackey-Glass series, shape ``[steps, 1]`` (float64)."""
    if steps < 1 or tau < 0 or h <= 0:
        raise ValueError(f"need steps >= 1, tau >= 0, h > 0; got {steps}, {tau}, {h}")
    lag = int(np.floor(tau / h))
    rng = np.random.default_rng(seed)
    series = np.empty(lag + steps)
    series[:lag] = x0 + 0.2 * (rng.random(lag) - 0.5)
    x, bh = x0, -b * h
    for i in range(lag, lag + steps):
        series[i] = x
        x_tau = series[i - lag] if tau > 0 else 0.0
        k1 = bh * x + a * h * x_tau / (1 + x_tau**n)
        k2 = 2 * k1 + bh * k1
        k3 = 2 * k1 + bh * k2
        k4 = k1 + bh * k3
        x = x + (k1 + k2 + k3 + k4) / 6
    return series[lag:].reshape(-1, 1)
