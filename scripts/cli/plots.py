"""Learning-curve figures: one line per curve with a shaded band, optional reference levels."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
import numpy as np

from stateful_rl.agents.persistence import write_atomic


@dataclass
class Curve:
    """One curve: ``steps[K]`` (env steps), ``mean[K]`` and its band ``low[K]``..``high[K]``."""

    label: str
    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def plot_curves(
    curves: list[Curve],
    path: str | Path,
    title: str,
    band: str,
    references: dict[str, float] | None = None,
) -> None:
    """Save a PNG of ``curves`` (band described by ``band``) with dashed ``references``."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for curve in curves:
        (line,) = ax.plot(curve.steps, curve.mean, label=curve.label, lw=1.8)
        ax.fill_between(curve.steps, curve.low, curve.high, color=line.get_color(), alpha=0.2)
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, ls="--", lw=1, color=f"C{len(curves) + i}", label=label)
    ax.set_xlabel("env steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(f"{title}\n(shaded: {band})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    data = io.BytesIO()
    fig.savefig(data, format="png")
    plt.close(fig)
    write_atomic(path, data.getvalue())


def std_curve(label: str, evaluations: np.ndarray) -> Curve:
    """A curve from ``evaluations[K, 3]`` rows (step, mean, std): mean ± 1 std."""
    steps, mean, std = evaluations.T
    return Curve(label, steps, mean, mean - std, mean + std)
