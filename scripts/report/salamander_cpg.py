"""Ijspeert's drive-ramp figure: the CPG alone switches from walking to swimming.

Drive rises linearly from 1 to 5 over ``--duration`` seconds (Ijspeert et al., Science 2007,
Fig. 2). Panels: the outputs x = r (1 + cos θ) of the left body oscillators (head to tail,
stacked), of the four limb oscillators, the instantaneous frequency of the body and of the
limbs, and the drive. Below d = 3 the limbs oscillate and entrain the body (standing
wave, limb frequency); above it the limbs stop and the body jumps to its own, higher
frequency with a travelling wave.

    python -m stateful_rl.report.salamander_cpg --out runs/salamander_cpg.png
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from stateful_rl.claims.cpg_gaits import drive_ramp
from stateful_rl.envs.salamander.cpg import LIMB_NAMES, N_BODY, N_SEGMENTS


def save_figure(run: dict[str, np.ndarray], path: Path) -> None:
    """Write the four-panel figure to ``path`` (PNG), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time, output = run["time"], run["output"]
    # Instantaneous frequency from the phase, smoothed over 1 s.
    window = max(1, round(1.0 / (time[1] - time[0])))
    freq = np.gradient(run["theta"], time, axis=0) / (2 * np.pi)
    kernel = np.ones(window) / window
    smooth = np.stack([np.convolve(f, kernel, mode="same") for f in freq.T], axis=1)
    smooth[: window // 2] = smooth[-(window // 2) :] = np.nan  # incomplete windows
    fig, axes = plt.subplots(4, 1, figsize=(8, 9), sharex=True, height_ratios=[3, 1.5, 1, 1])
    for k in range(N_SEGMENTS):
        axes[0].plot(time, output[:, k] - 1.2 * k, lw=0.8, color=plt.cm.viridis(k / N_SEGMENTS))
    axes[0].set_ylabel("body x_L\n(head → tail)")
    axes[0].set_yticks([])
    for k, name in enumerate(LIMB_NAMES):
        axes[1].plot(time, output[:, N_BODY + k] - 1.2 * k, lw=0.8, label=name)
    axes[1].set_ylabel("limbs x")
    axes[1].set_yticks([])
    axes[1].legend(loc="upper right", ncol=4, fontsize=7)
    axes[2].plot(time, smooth[:, 0], label="body")
    active = np.convolve(run["drive"] <= 3.0, kernel, mode="same") > 1.0 - 1e-9
    axes[2].plot(time[active], smooth[active, N_BODY], label="limbs")
    axes[2].set_ylabel("frequency (Hz)")
    axes[2].legend(loc="upper left", fontsize=7)
    axes[3].plot(time, run["drive"], color="k")
    axes[3].axhline(3.0, color="grey", ls=":")
    axes[3].set_ylabel("drive d")
    axes[3].set_xlabel("time (s)")
    for ax in axes:
        ax.axvline(time[np.argmax(run["drive"] > 3.0)], color="grey", ls=":")
    axes[0].set_title("Ijspeert CPG, drive ramp 1 → 5: walking (trot) → swimming")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".png", delete=False) as tmp:
        fig.savefig(tmp.name, dpi=120)
    os.replace(tmp.name, path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/salamander_cpg.png"))
    parser.add_argument("--duration", type=float, default=40.0, help="ramp length (s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    save_figure(drive_ramp(args.duration, seed=args.seed), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
