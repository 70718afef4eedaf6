"""Figure: vanishing and exploding gradients in an Elman RNN, the cliff, and clipping.

Panels: (a) ‖∂h_T/∂s_k‖ against the lag T - k for Elman RNNs whose W_rec has leading
eigenvalue modulus below and above 1, and an LSTM; (b) eigenvalues of W_rec for the three
initialisations (eigen-scaled, orthogonal, Euler ``I + Δt A`` of lightly damped
oscillators); (c) the cliff of Pascanu, Mikolov & Bengio (2013): the loss of a one-unit RNN
``r_t = w tanh(r_{t-1}) + b`` after 50 steps jumps as ``b`` crosses a bifurcation, with a
huge gradient there; (d) training an Elman RNN with exploding gradients (|λ| = 1.5) on a
20-step recall task with and without gradient-norm clipping (Mikolov 2012), and |λ| = 0.95.

    python -m stateful_rl.report.encoder_gradients [--out docs/figures/encoder_gradients.png]

The numbers go to a JSON file next to the figure (``--replot`` redraws from it).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from stateful_rl.claims.gradients import train_recall
from stateful_rl.encoders import ElmanEncoder, LSTMEncoder
from stateful_rl.encoders.diagnostics import gradient_norms_through_time, recurrent_eigenvalues

MODULI = (0.8, 0.95, 1.05, 1.3)


def gradient_panel(lag: int = 60, hidden: int = 32) -> dict[str, list[float]]:
    """Gradient norm per lag 1..``lag`` (index 0 = lag 1) for each leading |λ| and an LSTM."""
    x = torch.randn(lag, 1, generator=torch.Generator().manual_seed(0)) * 0.1
    curves = {}
    for modulus in MODULI:
        torch.manual_seed(0)
        encoder = ElmanEncoder(1, hidden, leading_eigenvalue=modulus)
        curves[f"Elman |λ|={modulus}"] = gradient_norms_through_time(encoder, x).flip(0).tolist()
    torch.manual_seed(0)
    curves["LSTM"] = gradient_norms_through_time(LSTMEncoder(1, hidden), x).flip(0).tolist()
    return curves


def spectrum_panel(hidden: int = 64) -> dict[str, list[list[float]]]:
    """Eigenvalues ``[re, im]`` of W_rec for the three initialisations."""
    torch.manual_seed(0)
    # block-diagonal lightly damped oscillators ω ∈ [0.5, 2], damping 0.05, Euler step Δt = 0.5
    omegas = np.linspace(0.5, 2.0, hidden // 2)
    a = np.zeros((hidden, hidden))
    for i, omega in enumerate(omegas):
        a[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[0.0, 1.0], [-(omega**2), -0.05]]
    encoders = {
        "eigen-scaled 0.95": ElmanEncoder(1, hidden, init="eigen", leading_eigenvalue=0.95),
        "orthogonal 0.95": ElmanEncoder(1, hidden, init="orthogonal", leading_eigenvalue=0.95),
        "Euler I + ΔtA (Δt = 0.5)": ElmanEncoder.from_dynamics(a, 0.5, input_dim=1),
    }
    return {
        name: torch.view_as_real(recurrent_eigenvalues(e)).tolist() for name, e in encoders.items()
    }


def cliff_panel(w: float = 3.0, steps: int = 50, target: float = -1.5) -> dict[str, list[float]]:
    """Loss ``(r_50 - target)²`` and ``|∂loss/∂b|`` of ``r_t = w tanh(r_{t-1}) + b`` over ``b``
    (``r_0 = -1``): for ``w > 1`` two stable fixed points; ``r_50`` jumps between them."""
    b = torch.linspace(-2.0, 2.0, 801, dtype=torch.float64, requires_grad=True)
    r = torch.full_like(b, -1.0)
    for _ in range(steps):
        r = w * torch.tanh(r) + b
    loss = (r - target) ** 2
    (grad,) = torch.autograd.grad(loss.sum(), b)
    return {"b": b.tolist(), "loss": loss.tolist(), "grad": grad.abs().tolist()}


def training_panel(steps: int = 400) -> dict[str, list[float]]:
    """Recall-task loss curves: Elman with |λ| = 1.5 without/with clipping, and |λ| = 0.95."""
    runs = {}
    for modulus, clip in ((1.5, None), (1.5, 1.0), (0.95, None)):
        torch.manual_seed(0)
        encoder = ElmanEncoder(1, 32, leading_eigenvalue=modulus)
        runs[f"Elman |λ|={modulus}, clip={clip}"] = train_recall(encoder, clip, steps)
    return runs


def plot(data: dict, out: Path) -> None:
    """Draw the four panels from ``data`` and save ``out`` atomically."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    ax = axes[0, 0]
    for name, curve in data["gradients"].items():
        ax.semilogy(np.arange(1, len(curve) + 1), curve, label=name)
    ax.set(xlabel="lag T - k", ylabel="‖∂h_T / ∂s_k‖", title="(a) gradients through time")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    circle = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(circle), np.sin(circle), "k:", lw=1)
    for name, eig in data["spectra"].items():
        eig = np.asarray(eig)
        ax.scatter(eig[:, 0], eig[:, 1], s=10, label=name)
    ax.set(xlabel="Re λ", ylabel="Im λ", title="(b) eigenvalues of W_rec", aspect="equal")
    ax.legend(fontsize=8)
    ax = axes[1, 0]
    cliff = data["cliff"]
    ax.plot(cliff["b"], cliff["loss"], color="C0")
    ax.set(xlabel="bias b (w = 3, r_0 = -1)", ylabel="loss (r_50 + 1.5)²", title="(c) the cliff")
    twin = ax.twinx()
    twin.semilogy(cliff["b"], np.maximum(cliff["grad"], 1e-12), color="C1", lw=1)
    twin.set_ylabel("|∂loss/∂b|", color="C1")
    ax = axes[1, 1]
    for name, curve in data["training"].items():
        ax.semilogy(curve, label=name, lw=1)
    ax.set(xlabel="update", ylabel="MSE", title="(d) recall after 20 steps, SGD lr 0.05")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=out.suffix, delete=False) as tmp:
        fig.savefig(tmp.name, dpi=120)
    os.replace(tmp.name, out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/figures/encoder_gradients.png"))
    parser.add_argument("--replot", action="store_true", help="redraw from the saved JSON")
    args = parser.parse_args(argv)
    numbers = args.out.with_suffix(".json")
    if args.replot:
        data = json.loads(numbers.read_text())
    else:
        torch.set_num_threads(1)
        data = {
            "gradients": gradient_panel(),
            "spectra": spectrum_panel(),
            "cliff": cliff_panel(),
            "training": training_panel(),
        }
        numbers.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=numbers.parent, delete=False) as tmp:
            json.dump(data, tmp)
        os.replace(tmp.name, numbers)
    plot(data, args.out)
    print(f"wrote {args.out} and {numbers}")


if __name__ == "__main__":
    main()
