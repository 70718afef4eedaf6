"""Claim 9: an echo state network is a kernel.

The lecture: the echo state property makes the reservoir's feature map φ well defined, so
``k(x, x') = ⟨φ(x), φ(x')⟩`` is a kernel over input histories. Checked four ways:

1. the Gram matrix of reservoir features over input sequences is positive semi-definite;
2. a ridge readout on reservoir states equals kernel ridge regression with that Gram
   matrix (the primal and the dual form of the same fit);
3. as the reservoir grows, its kernel converges to the infinite-width limit, the recurrent
   kernel of Hermans & Schrauwen ("Recurrent kernel machines", Neural Computation 24,
   2012), with error ∝ N^(-1/2) (a Monte-Carlo average over N units);
4. kernel ridge regression with the limit kernel next to ESNs of growing N on Mackey-Glass.

Parts 3 and 4 use an erf reservoir without leak, ``φ_t = erf(a_t)``,
``a_t = σ_r W φ_{t-1} / √N + σ_i W_in u_t + σ_b b`` with W, W_in, b i.i.d. N(0, 1), because
its limit has a closed form: for Gaussian pre-activations with covariance Σ,
``E[erf(a) erf(a')] = (2/π) arcsin(2Σ_aa' / √((1 + 2Σ_aa)(1 + 2Σ_a'a')))`` (Williams,
"Computation with infinite neural networks", 1998), and as N → ∞ the pre-activations are
Gaussian with ``Σ_t = σ_r² k_{t-1} + σ_i² u_t·u'_t + σ_b²`` (the recursion of Hermans &
Schrauwen; tanh, the project's reservoir nonlinearity, has no closed form). A few lines of
numpy run this reservoir; part 2 uses the project's ``EchoStateEncoder`` and
``RidgeReadout``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import torch
from scipy.special import erf

from stateful_rl.claims.base import Break, Patcher, Verdict
from stateful_rl.claims.echo_state import RIDGE_DROPPED
from stateful_rl.datasets import mackey_glass
from stateful_rl.encoders import EchoStateEncoder
from stateful_rl.encoders.ridge import RidgeReadout

NUMBER = 9
TITLE = "An echo state network is a kernel"
CLAIM = (
    "Reservoir features define a kernel over input histories: their Gram matrix is positive "
    "semi-definite, a ridge readout on the states is kernel ridge regression with it, and as "
    "the reservoir grows its kernel converges as N^(-1/2) to a closed-form infinite-width "
    "limit (the recurrent kernel of Hermans & Schrauwen 2012) that can be used directly."
)


@dataclass(frozen=True)
class Scales:
    """The erf reservoir's weight scales: recurrent σ_r, input σ_i, bias σ_b."""

    recurrent: float = 0.9
    inputs: float = 1.0
    bias: float = 0.2


@dataclass(frozen=True)
class Budget:
    """Sizes of the four parts."""

    sequences: int = 16  # input sequences of the Gram matrix (parts 1 and 3)
    length: int = 30
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096)
    reservoirs: int = 8  # independent reservoirs per width, errors averaged
    ridge_units: int = 300
    train_steps: int = 1000
    test_steps: int = 500
    esn_widths: tuple[int, ...] = (30, 100, 300, 1000, 3000)
    horizon: int = 1  # Mackey-Glass steps ahead to predict
    ridge: float = 1e-4

    @classmethod
    def quick(cls) -> Budget:
        return cls(
            sequences=8,
            length=20,
            widths=(100, 400, 1600),
            reservoirs=6,
            ridge_units=100,
            train_steps=300,
            test_steps=100,
            esn_widths=(30, 300),
        )


def arcsine_step(
    previous: np.ndarray, cross: np.ndarray, diag_a: np.ndarray, diag_b: np.ndarray, s: Scales
) -> np.ndarray:
    """One step of the limit recursion: ``previous[i, j]`` = k_{t-1} between histories i and
    j, ``cross[i, j]`` = u_i·u_j at step t, ``diag_a[i]``, ``diag_b[j]`` the pre-activation
    variances Σ_ii, Σ_jj at step t; returns k_t ``[i, j]``."""
    sigma = s.recurrent**2 * previous + s.inputs**2 * cross + s.bias**2
    norm = np.sqrt(np.outer(1 + 2 * diag_a, 1 + 2 * diag_b))
    return 2 / np.pi * np.arcsin(2 * sigma / norm)


def limit_gram_final(u: np.ndarray, s: Scales) -> np.ndarray:
    """Limit kernel between the final states of sequences ``u[S, T, D]`` (state 0 at the
    start): ``[S, S]``."""
    k = np.zeros((u.shape[0], u.shape[0]))
    for t in range(u.shape[1]):
        cross = u[:, t] @ u[:, t].T
        variance = s.recurrent**2 * np.diag(k) + s.inputs**2 * np.diag(cross) + s.bias**2
        k = arcsine_step(k, cross, variance, variance, s)
    return k


def limit_gram_steps(u: np.ndarray, s: Scales) -> np.ndarray:
    """Limit kernel between the states after every step of one series ``u[T, D]`` (state 0
    before step 0): ``[T, T]``, entry ``[i, j]`` compares the histories ``u[:i+1]`` and
    ``u[:j+1]``."""
    steps = u.shape[0]
    squares = (u * u).sum(1)
    diag = np.zeros(steps)  # k_t between a history and itself
    previous_diag = 0.0
    variance = np.zeros(steps)
    for t in range(steps):
        variance[t] = s.recurrent**2 * previous_diag + s.inputs**2 * squares[t] + s.bias**2
        diag[t] = previous_diag = 2 / np.pi * np.arcsin(2 * variance[t] / (1 + 2 * variance[t]))
    gram = np.zeros((steps, steps))
    row = np.zeros(steps)  # k between history i - 1 and every history j - 1 (0 before start)
    for i in range(steps):
        shifted = np.concatenate([[0.0], row[:-1]])
        row = arcsine_step(shifted[None], (u[i] @ u.T)[None], variance[i : i + 1], variance, s)[0]
        gram[i] = row
    return gram


def erf_states(
    u: np.ndarray, units: int, s: Scales, seed: int, final_only: bool = False
) -> np.ndarray:
    """The erf reservoir over sequences ``u[S, T, D]`` (state 0 at the start): features
    ``φ_t / √N``, ``[S, T, N]`` (``[S, N]`` with ``final_only``), float64."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((units, units)) * (s.recurrent / np.sqrt(units))
    w_in = rng.standard_normal((u.shape[2], units)) * s.inputs
    bias = rng.standard_normal(units) * s.bias
    phi = np.zeros((u.shape[0], units))
    states = []
    for t in range(u.shape[1]):
        phi = erf(phi @ w.T + u[:, t] @ w_in + bias)
        if not final_only:
            states.append(phi)
    scale = 1 / np.sqrt(units)
    return phi * scale if final_only else np.stack(states, axis=1) * scale


def random_sequences(sequences: int, length: int, seed: int = 0) -> np.ndarray:
    """``[S, T, 1]`` inputs uniform in [−1, 1]."""
    return np.random.default_rng(seed).uniform(-1, 1, (sequences, length, 1))


def convergence(budget: Budget, s: Scales) -> dict[str, Any]:
    """Relative Frobenius error of the reservoir Gram against the limit, per width (mean over
    ``budget.reservoirs`` reservoirs), and the Gram matrices' smallest eigenvalues."""
    u = random_sequences(budget.sequences, budget.length)
    limit = limit_gram_final(u, s)
    errors, smallest = {}, {}
    for units in budget.widths:
        per_reservoir = []
        for r in range(budget.reservoirs):
            phi = erf_states(u, units, s, seed=1000 * units + r, final_only=True)
            gram = phi @ phi.T
            per_reservoir.append(np.linalg.norm(gram - limit) / np.linalg.norm(limit))
            smallest[(units, r)] = float(np.linalg.eigvalsh(gram)[0] / np.linalg.eigvalsh(gram)[-1])
        errors[units] = float(np.mean(per_reservoir))
    widths = np.array(list(errors))
    slope = float(np.polyfit(np.log(widths), np.log(list(errors.values())), 1)[0])
    eig = np.linalg.eigvalsh(limit)
    return {
        "errors": errors,
        "slope": slope,
        "limit_min_eig_ratio": float(eig[0] / eig[-1]),
        "reservoir_min_eig_ratio": min(smallest.values()),
    }


def mackey_glass_split(budget: Budget) -> tuple[np.ndarray, np.ndarray, slice, slice]:
    """Standardised Mackey-Glass inputs ``[T, 1]``, targets ``horizon`` steps ahead
    (centred on the training mean), and the training and test slices (after a washout)."""
    washout = 100
    total = washout + budget.train_steps + budget.test_steps
    series = mackey_glass(total + budget.horizon, seed=42)[:, 0]
    u = (series[:total] - series.mean()) / series.std()
    y = series[budget.horizon : total + budget.horizon]
    train = slice(washout, washout + budget.train_steps)
    return u[:, None], y - y[train].mean(), train, slice(train.stop, total)


def primal_dual(budget: Budget) -> dict[str, Any]:
    """``RidgeReadout`` on ``EchoStateEncoder`` states against kernel ridge regression with
    their Gram matrix, on Mackey-Glass: the largest test-prediction difference relative to
    the predictions' scale."""
    u, y, train, test = mackey_glass_split(budget)
    encoder = EchoStateEncoder(1, budget.ridge_units, dtype=torch.float64)
    x = torch.from_numpy(u).view(-1, 1, 1)
    starts = torch.zeros(len(u), 1, dtype=torch.bool)
    states = encoder(x, encoder.initial_state(1), starts)[0][:, 0].numpy()
    readout = RidgeReadout(budget.ridge_units, 1, ridge=budget.ridge, fit_bias=False)
    readout.fit(torch.from_numpy(states[train]), torch.from_numpy(y[train, None]))
    primal = readout(torch.from_numpy(states[test])).numpy()[:, 0]
    gram = states[train] @ states[train].T
    coef = scipy.linalg.solve(gram + budget.ridge * np.eye(len(gram)), y[train], assume_a="pos")
    dual = states[test] @ states[train].T @ coef
    eig = np.linalg.eigvalsh(gram)
    return {
        "max_relative_difference": float(np.abs(primal - dual).max() / np.abs(dual).max()),
        "gram_min_eig_ratio": float(eig[0] / eig[-1]),
    }


def nrmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error over the target's standard deviation."""
    return float(np.sqrt(np.mean((pred - target) ** 2)) / target.std())


def mackey_glass_race(budget: Budget, s: Scales) -> dict[str, Any]:
    """Test NRMSE of erf ESNs of growing N (ridge readout on ``φ/√N``, seed 0) and of kernel
    ridge regression with the limit kernel, same ridge, same data."""
    u, y, train, test = mackey_glass_split(budget)
    esn = {}
    for units in budget.esn_widths:
        states = erf_states(u[None], units, s, seed=units)[0]
        readout = RidgeReadout(units, 1, ridge=budget.ridge, fit_bias=False)
        readout.fit(torch.from_numpy(states[train]), torch.from_numpy(y[train, None]))
        esn[units] = nrmse(readout(torch.from_numpy(states[test])).numpy()[:, 0], y[test])
    gram = limit_gram_steps(u, s)
    coef = scipy.linalg.solve(
        gram[train, train] + budget.ridge * np.eye(budget.train_steps), y[train], assume_a="pos"
    )
    return {"esn": esn, "limit_kernel": nrmse(gram[test, train] @ coef, y[test])}


def run(budget: Budget, scales: Scales | None = None) -> dict[str, Any]:
    """The four parts."""
    s = scales or Scales()
    return {
        "convergence": convergence(budget, s),
        "primal_dual": primal_dual(budget),
        "mackey_glass": mackey_glass_race(budget, s),
        "scales": s.__dict__,
        "horizon": budget.horizon,
        "ridge": budget.ridge,
    }


def verdict(
    evidence: dict[str, Any], psd: float = -1e-10, equal: float = 1e-8, slope: float = 0.1
) -> Verdict:
    """Smallest/largest eigenvalue ≥ ``psd`` for the reservoir and limit Gram matrices;
    ridge = kernel ridge to ``equal`` (relative); log-log slope of the convergence error
    within ``slope`` of −0.5; the largest ESN's Mackey-Glass NRMSE within 25% of the limit
    kernel's."""
    c, pd, mg = evidence["convergence"], evidence["primal_dual"], evidence["mackey_glass"]
    semidefinite = (
        min(c["limit_min_eig_ratio"], c["reservoir_min_eig_ratio"], pd["gram_min_eig_ratio"]) >= psd
    )
    same = pd["max_relative_difference"] <= equal
    rate = abs(c["slope"] + 0.5) <= slope
    largest = mg["esn"][max(mg["esn"])]
    close = abs(largest / mg["limit_kernel"] - 1) <= 0.25
    return Verdict(
        semidefinite and same and rate and close,
        f"Gram matrices PSD (smallest/largest eigenvalue ≥ {psd:g}); ridge = kernel ridge to "
        f"{equal:g}; convergence slope −0.5 ± {slope:g}; the largest ESN's NRMSE within 25% of "
        "the limit kernel's",
        {
            "slope": c["slope"],
            "errors": c["errors"],
            "max_relative_difference": pd["max_relative_difference"],
            "min_eig_ratios": [
                c["limit_min_eig_ratio"],
                c["reservoir_min_eig_ratio"],
                pd["gram_min_eig_ratio"],
            ],
            "nrmse_esn": mg["esn"],
            "nrmse_limit_kernel": mg["limit_kernel"],
        },
    )


def _arcsine_without_factor_two(patcher: Patcher) -> None:
    """The limit recursion with ``arcsin(Σ / √((1 + Σ)(1 + Σ')))``: the wrong kernel."""

    def wrong(
        previous: np.ndarray, cross: np.ndarray, diag_a: np.ndarray, diag_b: np.ndarray, s: Scales
    ) -> np.ndarray:
        sigma = s.recurrent**2 * previous + s.inputs**2 * cross + s.bias**2
        return 2 / np.pi * np.arcsin(sigma / np.sqrt(np.outer(1 + diag_a, 1 + diag_b)))

    patcher.setattr(sys.modules[__name__], "arcsine_step", wrong)


BREAKS = (
    Break("limit kernel without the factor 2 of the arcsine formula", _arcsine_without_factor_two),
    RIDGE_DROPPED,
)
