"""Claim 3: gradients through time vanish or explode with the leading eigenvalue of W_rec
(exactly so for a linear RNN), tanh saturation changes where, and clipping helps where they
explode.

BPTT multiplies Jacobians ``∂r_i/∂r_{i-1} = W_rec diag(σ'(r_{i-1}))``. With σ linear the
product is ``W_rec^k`` and its norm grows as ``|λ_1|^k``: the lecture's eigenvalue view,
exact for linear models. With tanh, ``σ' < 1`` wherever the state saturates, so whether
gradients explode depends on where the input drives the state (the lecture's question
"what about nonlinear models?"): the map sweeps the weight scale (|λ_1| of W_rec) against
the input scale. Clipping is then tried where gradients do explode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

import stateful_rl.encoders.elman as elman
from stateful_rl.claims.base import Break, Patcher, Verdict
from stateful_rl.encoders import ElmanEncoder
from stateful_rl.encoders.base import StateEncoder
from stateful_rl.encoders.diagnostics import gradient_norms_through_time, recurrent_eigenvalues

NUMBER = 3
TITLE = (
    "Gradients through time follow |λ|^k in a linear RNN; tanh saturation moves where they "
    "explode; clipping helps where they do"
)
CLAIM = (
    "For a linear RNN the gradient norm ‖∂r_T/∂r_{T−k}‖ grows or shrinks as |λ_1|^k, λ_1 the "
    "leading eigenvalue of W_rec. With tanh the eigenvalue alone does not decide it: saturation "
    "damps the Jacobians, so up to |λ_1| = 1.6 gradients vanish at every input scale (a linear "
    "RNN would explode there) and larger inputs damp them further; they explode only for "
    "weights far above 1 (here clearly from |λ_1| = 3; at 2 the factor is ≈ 1), where the "
    "network is chaotic. Where they explode, plain SGD diverges at every step size tried and "
    "gradient-norm clipping trains."
)


@dataclass(frozen=True)
class Budget:
    """Sizes of the three parts: linear fit, tanh map, clipping runs."""

    hidden: int = 64
    lags: int = 100
    washout: int = 100
    fit_from: int = 20  # lags before this are transients of the subleading eigenvalues
    linear_moduli: tuple[float, ...] = (0.5, 0.8, 0.95, 1.05, 1.3, 2.0)
    map_moduli: tuple[float, ...] = (0.5, 0.8, 0.95, 1.05, 1.3, 1.6, 2.0, 3.0, 4.0)
    map_inputs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    clip_settings: tuple[tuple[float, float], ...] = ((0.95, 0.1), (3.0, 0.1))  # (|λ|, input)
    clip_rates: tuple[float, ...] = (0.01, 0.03, 0.1)
    clip_updates: int = 400

    @classmethod
    def quick(cls) -> Budget:
        return cls(
            hidden=32,
            lags=60,
            washout=40,
            linear_moduli=(0.8, 1.3),
            map_moduli=(1.3, 4.0),
            map_inputs=(0.01, 3.0),
            clip_settings=((3.0, 0.1),),
            clip_rates=(0.03,),
            clip_updates=150,
        )


def growth_factor(norms: np.ndarray, fit_from: int) -> float:
    """Per-step factor ``exp(slope)`` of ``log norms`` against the lag, fitted on lags
    ``fit_from..``; ``norms[k - 1]`` is the norm at lag ``k``."""
    lags = np.arange(1, len(norms) + 1)
    keep = lags >= fit_from
    with np.errstate(divide="ignore"):
        logs = np.log(norms[keep])
    if not np.isfinite(logs).all():
        return 0.0  # the gradient is exactly zero at some lag: nothing flows back
    return float(np.exp(np.polyfit(lags[keep], logs, 1)[0]))


def lag_norms(modulus: float, input_scale: float, activation: str, budget: Budget) -> np.ndarray:
    """``‖∂r_T/∂s_{T-k}‖`` for ``k = 1..lags`` (float64) of an Elman RNN (eigen init, seed 0,
    leading |λ| = ``modulus``) driven by ``input_scale`` × N(0, 1) inputs (seed 0), measured
    after a washout of ``budget.washout`` steps (the state has left its start by then)."""
    generator = torch.Generator().manual_seed(0)
    encoder = ElmanEncoder(
        1, budget.hidden, activation=activation, leading_eigenvalue=modulus, generator=generator
    ).double()
    steps = budget.washout + budget.lags
    x = torch.randn(steps, 1, generator=generator, dtype=torch.float64) * input_scale
    with torch.no_grad():
        no_start = torch.zeros(budget.washout, 1, dtype=torch.bool)
        _, state = encoder(x[: budget.washout, None], encoder.initial_state(1), no_start)
    return gradient_norms_through_time(encoder, x[budget.washout :], state).flip(0).numpy()


def train_recall(
    encoder: StateEncoder,
    clip: float | None,
    steps: int,
    lag: int = 20,
    lr: float = 0.05,
    noise: float = 0.1,
) -> list[float]:
    """Loss per update of encoder + linear head recalling at step ``lag`` the value (uniform
    in [-1, 1]) shown at step 0, with ``noise`` × N(0, 1) inputs in between (SGD at ``lr``,
    batches of 32, data seed 1; ``clip``: max gradient norm or None). Non-finite losses are
    recorded as NaN."""
    generator = torch.Generator().manual_seed(1)
    head = nn.Linear(encoder.features_dim, 1)
    params = [*encoder.parameters(), *head.parameters()]
    optimiser = torch.optim.SGD(params, lr=lr)
    starts = torch.zeros(lag + 1, 32, dtype=torch.bool)
    starts[0] = True
    losses = []
    for _ in range(steps):
        value = torch.rand(32, 1, generator=generator) * 2 - 1
        x = torch.zeros(lag + 1, 32, 1)
        x[0] = value
        x[1:] = torch.randn(lag, 32, 1, generator=generator) * noise
        features, _ = encoder(x, encoder.initial_state(32), starts)
        loss = (head(features[-1]) - value).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(params, clip)
        optimiser.step()
        losses.append(loss.item() if torch.isfinite(loss) else float("nan"))
    return losses


def run(budget: Budget) -> dict[str, Any]:
    """Linear lag norms and fitted factors, the tanh factor map ``[moduli, inputs]``, and
    recall loss curves with and without clipping (seed 0)."""
    linear = {}
    for modulus in budget.linear_moduli:
        norms = lag_norms(modulus, 0.1, "linear", budget)
        # the same draw as lag_norms' encoder: its W_rec, whose eigenvalues the fit is judged by
        eigen = ElmanEncoder(
            1, budget.hidden, leading_eigenvalue=modulus, generator=torch.Generator().manual_seed(0)
        )
        linear[modulus] = {
            "norms": norms,
            "factor": growth_factor(norms, budget.fit_from),
            "eigenvalue": float(recurrent_eigenvalues(eigen).abs().max()),
        }
    factors = np.array(
        [
            [
                growth_factor(lag_norms(m, s, "tanh", budget), budget.fit_from)
                for s in budget.map_inputs
            ]
            for m in budget.map_moduli
        ]
    )
    clipping, clip_factors = {}, {}
    for modulus, scale in budget.clip_settings:
        clip_factors[(modulus, scale)] = growth_factor(
            lag_norms(modulus, scale, "tanh", budget), budget.fit_from
        )
        for lr in budget.clip_rates:
            for clip in (None, 1.0):
                torch.manual_seed(0)
                encoder = ElmanEncoder(1, budget.hidden, leading_eigenvalue=modulus)
                clipping[(modulus, scale, lr, clip)] = np.asarray(
                    train_recall(encoder, clip, budget.clip_updates, lr=lr, noise=scale)
                )
    return {
        "linear": linear,
        "map": factors,
        "map_moduli": budget.map_moduli,
        "map_inputs": budget.map_inputs,
        "clipping": clipping,
        "clip_factors": clip_factors,
    }


def diverged(losses: np.ndarray) -> bool:
    """Non-finite, or the last 20 losses above the first (training made it worse)."""
    return not np.isfinite(losses).all() or float(np.mean(losses[-20:])) > losses[0]


def verdict(evidence: dict[str, Any], tolerance: float = 0.01, mild: float = 1.6) -> Verdict:
    """(a) linear: every fitted factor within ``tolerance`` (relative) of |λ_1|, measured and
    nominal; (b) tanh: no cell with 1 < |λ| ≤ ``mild`` explodes (a linear RNN would), in
    every row with |λ| ≤ ``mild`` the largest input gives a smaller factor than the smallest
    (saturation), and some larger |λ| does explode; (c) clipping: in every setting whose
    factor is > 1 and at every step size, SGD without clipping diverges and clipped SGD ends
    below half its first loss."""
    linear = evidence["linear"]
    errors = {
        m: max(abs(v["factor"] / m - 1), abs(v["factor"] / v["eigenvalue"] - 1))
        for m, v in linear.items()
    }
    exact = max(errors.values()) <= tolerance
    factors, moduli = evidence["map"], np.asarray(evidence["map_moduli"])
    gentle = factors[moduli <= mild]
    above_one = factors[(moduli > 1) & (moduli <= mild)]
    no_explosion = above_one.size > 0 and bool((above_one < 1).all())
    damped = gentle.size > 0 and bool((gentle[:, -1] < gentle[:, 0]).all())
    explodes = bool((factors[moduli > mild] > 1).any())
    rescued, failed = [], []
    for (modulus, scale, lr, clip), losses in evidence["clipping"].items():
        if clip is not None or evidence["clip_factors"][(modulus, scale)] <= 1:
            continue
        clipped = evidence["clipping"][(modulus, scale, lr, 1.0)]
        trains = np.isfinite(clipped).all() and np.mean(clipped[-20:]) < 0.5 * clipped[0]
        (rescued if diverged(losses) and trains else failed).append((modulus, scale, lr))
    numbers = {
        "linear_factor": {m: v["factor"] for m, v in linear.items()},
        "linear_eigenvalue": {m: v["eigenvalue"] for m, v in linear.items()},
        "linear_max_relative_error": max(errors.values()),
        "tanh_max_factor_for_modulus_in_(1, mild]": float(above_one.max())
        if above_one.size
        else None,
        "tanh_max_factor": float(factors.max()),
        "clip_setting_factors": evidence["clip_factors"],
        "clipping_rescues": rescued,
        "clipping_not_rescued": failed,
    }
    return Verdict(
        exact and no_explosion and damped and explodes and bool(rescued) and not failed,
        f"linear: fitted per-step factor within {tolerance:.0%} of |λ_1| for every |λ|; tanh: "
        f"no |λ| in (1, {mild:g}] explodes at any input scale, for |λ| ≤ {mild:g} the largest "
        "input scale damps the factor below the smallest's, and some larger |λ| explodes; "
        "clipping: where gradients explode, at every step size unclipped SGD diverges and "
        "clipped SGD ends below half its first loss",
        numbers,
    )


def _singular_normalised(patcher: Patcher) -> None:
    """Eigen init scaled by the largest singular value instead of the leading |λ|."""
    patcher.setattr(
        elman,
        "leading_eigenvalue_modulus",
        lambda m: float(torch.linalg.matrix_norm(m.detach().double(), ord=2)),
    )


def _patch_elman_forward(
    patcher: Patcher, change: Callable[[ElmanEncoder, tuple[torch.Tensor, ...]], tuple]
) -> None:
    """``ElmanEncoder.forward`` that first calls ``change(encoder, state)`` and runs on the
    state it returns."""
    original = ElmanEncoder.forward

    def forward(
        self: ElmanEncoder, x: torch.Tensor, state: tuple[torch.Tensor, ...], starts: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        return original(self, x, change(self, state), starts)

    patcher.setattr(ElmanEncoder, "forward", forward)


def _state_detached(patcher: Patcher) -> None:
    """BPTT cut: the Elman state is detached before every call."""
    _patch_elman_forward(patcher, lambda encoder, state: tuple(s.detach() for s in state))


def _tanh_without_saturation(patcher: Patcher) -> None:
    """``tanh`` that never saturates: σ = identity on the Elman step (fused path off)."""
    patcher.setattr(elman, "_ACTIVATIONS", {**elman._ACTIVATIONS, "tanh": lambda r: r})

    def unfused(encoder: ElmanEncoder, state: tuple[torch.Tensor, ...]) -> tuple:
        encoder.fused = False  # the fused kernel has its own tanh
        return state

    _patch_elman_forward(patcher, unfused)


def _no_clipping(patcher: Patcher) -> None:
    """Gradient-norm clipping that does nothing."""
    patcher.setattr(nn.utils, "clip_grad_norm_", lambda params, max_norm: torch.tensor(0.0))


BREAKS = (
    Break("eigen init normalised by the largest singular value, not |λ_1|", _singular_normalised),
    Break("BPTT cut: the state is detached between steps", _state_detached),
    Break("tanh without saturation (σ = identity)", _tanh_without_saturation),
    Break("gradient clipping that does nothing", _no_clipping),
)
