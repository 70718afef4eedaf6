"""Claim 4: an ESN with ρ < 1 forgets its initial state, and its ridge readout is a convex
fit that any start reaches.

Two reservoir runs from different initial states under the same input, for spectral radii
below and above 1; then the ridge objective of a readout minimised by L-BFGS from random
starts against :class:`RidgeReadout`'s closed form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.optim import LBFGS

import stateful_rl.encoders.echo_state as echo_state
from stateful_rl.claims.base import Break, Patcher, Verdict
from stateful_rl.datasets import mackey_glass
from stateful_rl.encoders import EchoStateEncoder
from stateful_rl.encoders.ridge import RidgeReadout

NUMBER = 4
TITLE = "An ESN with ρ < 1 forgets its initial state; its ridge readout is a convex fit"
CLAIM = (
    "Under the same input, reservoirs with spectral radius ρ < 1 started from different "
    "states converge to the same state (the echo state property), and the ridge readout "
    "has one minimum that any start reaches: the closed-form solution."
)


@dataclass(frozen=True)
class Budget:
    """Reservoir size and spectral radii of the forgetting runs; readout fit sizes."""

    units: int = 300
    radii: tuple[float, ...] = (0.5, 0.9, 1.5, 3.0)
    steps: int = 300
    ridge_units: int = 100  # larger reservoirs make XᵀX so ill-conditioned that L-BFGS stalls
    starts: int = 5

    @classmethod
    def quick(cls) -> Budget:
        return cls(units=100, radii=(0.5, 0.9, 1.5), starts=3, ridge_units=60)


def state_distances(
    rho: float,
    units: int,
    steps: int = 300,
    seed: int = 0,
    leak_rate: float = 0.3,
    input_scaling: float = 1.0,
) -> np.ndarray:
    """RMS distance per step between two runs of an ``EchoStateEncoder`` (float64) from
    different random initial states in [−1, 1]^N under the same uniform(−1, 1) input."""
    encoder = EchoStateEncoder(
        1,
        units,
        spectral_radius=rho,
        leak_rate=leak_rate,
        input_scaling=input_scaling,
        seed=seed,
        dtype=torch.float64,
    )
    generator = torch.Generator().manual_seed(seed)
    x = (torch.rand(steps, 1, 1, generator=generator, dtype=torch.float64) * 2 - 1).expand(
        -1, 2, -1
    )
    h0 = torch.rand(2, units, generator=generator, dtype=torch.float64) * 2 - 1
    starts = torch.zeros(steps, 2, dtype=torch.bool)
    h, _ = encoder(x.contiguous(), (h0,), starts)
    return (h[:, 0] - h[:, 1]).pow(2).mean(-1).sqrt().numpy()


def ridge_from_starts(
    units: int, starts: int = 5, seed: int = 0, ridge: float = 1.0, restarts: int = 10
) -> dict[str, Any]:
    """Fit a ridge readout of an ESN (ρ = 0.9) to one-step-ahead Mackey-Glass in closed form
    and by L-BFGS (up to ``restarts`` runs of 500 iterations) from ``starts`` random
    initial weights; how far each lands from the closed form."""
    series = torch.from_numpy(mackey_glass(1201, seed=42)).view(-1, 1, 1)
    encoder = EchoStateEncoder(1, units, spectral_radius=0.9, seed=seed, dtype=torch.float64)
    starts_mask = torch.zeros(1200, 1, dtype=torch.bool)
    starts_mask[0] = True
    states = encoder(series[:-1], encoder.initial_state(1), starts_mask)[0][100:, 0]
    target = series[101:, 0]
    closed = RidgeReadout(units, 1, ridge=ridge, fit_bias=False).fit(states, target)
    n = len(states)

    def objective(w: torch.Tensor) -> torch.Tensor:  # the ridge objective RidgeReadout minimises
        return ((states @ w - target) ** 2).sum() / n + ridge * (w**2).sum() / n

    generator = torch.Generator().manual_seed(seed)
    distances, losses, curves = [], [], []
    for _ in range(starts):
        w = (torch.randn(units, 1, generator=generator, dtype=torch.float64) * 10).requires_grad_()
        curve: list[float] = []
        for _ in range(restarts):  # a fresh L-BFGS memory when one run stalls
            optimiser = LBFGS(
                [w],
                max_iter=500,
                tolerance_grad=1e-13,
                tolerance_change=0,
                history_size=50,
                line_search_fn="strong_wolfe",
            )

            def closure(
                w: torch.Tensor = w, curve: list[float] = curve, optimiser: LBFGS = optimiser
            ) -> torch.Tensor:
                optimiser.zero_grad()
                loss = objective(w)
                loss.backward()
                curve.append(loss.item())
                return loss

            optimiser.step(closure)
            if w.grad.abs().max() < 1e-13:
                break
        w_closed = closed.weight.T
        distances.append(float((w.detach() - w_closed).norm() / w_closed.norm()))
        losses.append(float(objective(w.detach())))
        curves.append(curve)
    return {
        "relative_distance": distances,
        "loss": losses,
        "closed_form_loss": float(objective(closed.weight.T)),
        "curves": curves,
    }


def run(budget: Budget) -> dict[str, Any]:
    """State distances per spectral radius, and the readout fits from random starts."""
    return {
        "distances": {
            rho: state_distances(rho, budget.units, budget.steps) for rho in budget.radii
        },
        "units": budget.units,
        "readout": ridge_from_starts(budget.ridge_units, budget.starts),
        "ridge_units": budget.ridge_units,
    }


def verdict(evidence: dict[str, Any], forget: float = 1e-6, reach: float = 1e-5) -> Verdict:
    """Every ρ < 1 ends below ``forget`` RMS distance; every L-BFGS start ends within
    ``reach`` (relative) of the closed-form weights."""
    finals = {rho: float(d[-1]) for rho, d in evidence["distances"].items()}
    forgets = all(v < forget for rho, v in finals.items() if rho < 1)
    worst = max(evidence["readout"]["relative_distance"])
    return Verdict(
        forgets and worst < reach,
        f"RMS distance < {forget:g} after the last step for every ρ < 1; every start within "
        f"{reach:g} (relative) of the closed-form weights",
        {
            "final_distance": finals,
            "worst_relative_distance": worst,
            "closed_form_loss": evidence["readout"]["closed_form_loss"],
        },
    )


def _radius_misestimated(patcher: Patcher) -> None:
    """The spectral-radius estimate is a third of the truth: reservoirs come out at 3ρ."""
    original = echo_state.spectral_radius
    patcher.setattr(echo_state, "spectral_radius", lambda m, **kw: original(m, **kw) / 3)


def _ridge_dropped(patcher: Patcher) -> None:
    """The closed form forgets its ridge term: it solves least squares, not the ridge fit."""
    original = RidgeReadout.solve

    def solve(self: RidgeReadout) -> RidgeReadout:
        ridge, self.ridge = self.ridge, 0.0
        try:
            return original(self)
        finally:
            self.ridge = ridge

    patcher.setattr(RidgeReadout, "solve", solve)


RIDGE_DROPPED = Break("closed-form readout without its ridge term", _ridge_dropped)
BREAKS = (
    Break("spectral radius estimated 3× too small (reservoir at 3ρ)", _radius_misestimated),
    RIDGE_DROPPED,
)
