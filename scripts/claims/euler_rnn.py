"""Claim 2: an RNN is a discretised dynamical system.

The lecture derives ``W_rec = I + Δt A`` from forward Euler on ``dr/dt = A r``; the check
builds the RNN with :meth:`ElmanEncoder.from_dynamics` and compares its trajectory with a
float64 Euler integration and with the exact solution ``exp(A t) r_0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.linalg import expm

from stateful_rl.claims.base import Break, Patcher, Verdict
from stateful_rl.encoders import ElmanEncoder

NUMBER = 2
TITLE = "An RNN is a discretised dynamical system"
CLAIM = (
    "`ElmanEncoder.from_dynamics(A, dt)` with linear σ (W_rec = I + Δt A) produces exactly the "
    "forward-Euler trajectory of dr/dt = A r; with too large a Δt that trajectory (and the "
    "RNN) grows although the continuous system decays."
)
# OccludedTracking's oscillator: ω = 2π/5 rad/s, damping ratio ζ = 0.1
OSCILLATOR = np.array([[0.0, 1.0], [-((2 * math.pi / 5) ** 2), -2 * 0.1 * 2 * math.pi / 5]])
START = np.array([1.0, 0.0])


@dataclass(frozen=True)
class Budget:
    """``duration`` seconds of simulated time at each step size ``dts``."""

    duration: float = 20.0
    dts: tuple[float, ...] = (0.1, 1.0)

    @classmethod
    def quick(cls) -> Budget:
        return cls()  # already a fraction of a second


def trajectories(dt: float, steps: int) -> dict[str, Any]:
    """``steps`` steps of ``dr/dt = A r`` from ``r_0 = [1, 0]``: the exact solution, float64
    forward Euler and ``ElmanEncoder.from_dynamics(A, dt)`` (linear σ, float64), ``[T, 2]``;
    ``radius`` = ρ(I + Δt A)."""
    encoder = ElmanEncoder.from_dynamics(OSCILLATOR, dt, input_dim=1, dtype=torch.float64)
    with torch.no_grad():
        x = torch.zeros(steps, 1, 1, dtype=torch.float64)
        starts = torch.zeros(steps, 1, dtype=torch.bool)
        rnn, _ = encoder(x, (torch.from_numpy(START)[None],), starts)
    euler = [START]
    for _ in range(steps):
        euler.append(euler[-1] + dt * OSCILLATOR @ euler[-1])
    times = dt * np.arange(1, steps + 1)
    exact = np.stack([expm(OSCILLATOR * s) @ START for s in times])
    radius = float(np.abs(np.linalg.eigvals(np.eye(2) + dt * OSCILLATOR)).max())
    return {
        "t": times,
        "rnn": rnn[:, 0].numpy(),
        "euler": np.array(euler[1:]),
        "exact": exact,
        "radius": radius,
    }


def run(budget: Budget) -> dict[str, Any]:
    """Trajectories per step size, keyed ``"dt=<Δt>"``."""
    return {f"dt={dt}": trajectories(dt, round(budget.duration / dt)) for dt in budget.dts}


def verdict(evidence: dict[str, Any], tolerance: float = 1e-12) -> Verdict:
    """RNN = Euler to ``tolerance`` (relative to max |Euler|) at every Δt; at the largest Δt
    ρ(I + ΔtA) > 1 and the Euler/RNN state has grown although the exact one has decayed."""
    numbers = {}
    for key, run_ in evidence.items():
        numbers[key] = {
            "max_rnn_minus_euler_relative": float(
                np.abs(run_["rnn"] - run_["euler"]).max() / np.abs(run_["euler"]).max()
            ),
            "max_euler_minus_exact": float(np.abs(run_["euler"][:, 0] - run_["exact"][:, 0]).max()),
            "spectral_radius": run_["radius"],
            "final_norm_rnn": float(np.linalg.norm(run_["rnn"][-1])),
            "final_norm_exact": float(np.linalg.norm(run_["exact"][-1])),
        }
    exact = all(n["max_rnn_minus_euler_relative"] <= tolerance for n in numbers.values())
    coarse = numbers[max(evidence, key=lambda k: float(k.split("=")[1]))]
    grows = (
        coarse["spectral_radius"] > 1 and coarse["final_norm_rnn"] > 1 > coarse["final_norm_exact"]
    )
    return Verdict(
        exact and grows,
        f"max |RNN − Euler| ≤ {tolerance:g} × max |Euler| (float64) at every Δt; at the largest Δt "
        "ρ(I + ΔtA) > 1 and the RNN ends with |r| > 1 > |exact r|",
        numbers,
    )


def _without_identity(patcher: Patcher) -> None:
    """``from_dynamics`` that builds ``W_rec = Δt A`` (the identity of Euler's step dropped)."""
    original = ElmanEncoder.from_dynamics

    def broken(a, dt, input_dim, **kwargs):
        encoder = original(a, dt, input_dim, **kwargs)
        with torch.no_grad():
            encoder.w_rec -= torch.eye(encoder.features_dim, dtype=encoder.w_rec.dtype)
        return encoder

    patcher.setattr(ElmanEncoder, "from_dynamics", staticmethod(broken))


def _transposed(patcher: Patcher) -> None:
    """``from_dynamics`` that builds ``W_rec = I + Δt Aᵀ`` (row/column convention mixed up)."""
    original = ElmanEncoder.from_dynamics

    def broken(a, dt, input_dim, **kwargs):
        return original(np.asarray(a).T, dt, input_dim, **kwargs)

    patcher.setattr(ElmanEncoder, "from_dynamics", staticmethod(broken))


BREAKS = (
    Break("`from_dynamics` drops the identity: W_rec = Δt A", _without_identity),
    Break("`from_dynamics` transposes A: W_rec = I + Δt Aᵀ", _transposed),
)
