"""Claim 7: the salamander CPG switches from walking to swimming as the drive rises.

Ramping the drive of Ijspeert's 20-oscillator network (Ijspeert et al., Science 2007,
Fig. 2) from 1 to 5: below d = 3 the limb oscillators run and entrain the body; the limb
drive map saturates at d = 3, the limbs fall silent and the body jumps to its own, higher
frequency with a travelling wave.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

import stateful_rl.envs.salamander.cpg as cpg
from stateful_rl.claims.base import Break, Patcher, Verdict
from stateful_rl.envs.salamander.cpg import N_BODY, N_SEGMENTS, SalamanderCPG

NUMBER = 7
TITLE = "The salamander CPG switches from walking to swimming as the drive rises"
CLAIM = (
    "Ramping the drive of Ijspeert's 20-oscillator CPG from 1 to 5 stops the limb oscillators "
    "at d = 3 and the body jumps to its own, higher frequency with a travelling wave "
    "(Ijspeert et al., Science 2007, Fig. 2)."
)
GAITS = {"walking": (1.8, 2.2), "swimming": (3.8, 4.2)}  # drive windows measured


@dataclass(frozen=True)
class Budget:
    """Length of the drive ramp (s)."""

    seconds: float = 40.0

    @classmethod
    def quick(cls) -> Budget:
        return cls(seconds=12.0)


def drive_ramp(duration: float, dt: float = 0.01, seed: int = 0) -> dict[str, np.ndarray]:
    """Run one CPG under d(t) = 1 + 4 t / duration; arrays over time steps [T, ...]:
    ``time`` (s), ``drive``, ``output`` and ``theta`` [T, 20]."""
    if not duration > 0 or not np.isfinite(duration):
        raise ValueError(f"duration must be finite and > 0 s, got {duration}")
    network = SalamanderCPG(n=1, dt=dt)
    network.reset(np.random.default_rng(seed))
    steps = round(duration / dt)
    time = np.arange(steps) * dt
    drive = 1.0 + 4.0 * time / duration
    output, theta = np.zeros((steps, 20)), np.zeros((steps, 20))
    for k, d in enumerate(drive):
        network.set_drive(d, d)
        network.step()
        output[k], theta[k] = network.output[0], network.theta[0]
    return {"time": time, "drive": drive, "output": output, "theta": theta}


def run(budget: Budget) -> dict[str, Any]:
    """The drive ramp and, per gait window, body and limb frequency (Hz, from the phase
    derivative), the largest limb output and the mean phase lag between neighbouring left
    body oscillators (rad); the drive from which the limbs stay silent (< 1e-3)."""
    ramp = drive_ramp(budget.seconds)
    time_s, drive, theta, output = ramp["time"], ramp["drive"], ramp["theta"], ramp["output"]
    limbs_active = np.abs(output[:, N_BODY:]).max(1) > 1e-3
    last_active = int(np.flatnonzero(limbs_active)[-1]) if limbs_active.any() else -1
    freq = np.gradient(np.unwrap(theta, axis=0), time_s, axis=0) / (2 * np.pi)
    lag = np.angle(np.exp(1j * (theta[:, : N_SEGMENTS - 1] - theta[:, 1:N_SEGMENTS]))).mean(1)
    gaits = {}
    for label, (low, high) in GAITS.items():
        sel = (drive >= low) & (drive <= high)
        gaits[label] = {
            "body_hz": float(freq[sel, 0].mean()),
            "limb_hz": float(freq[sel, N_BODY].mean()),
            "limb_output_max": float(np.abs(output[sel, N_BODY:]).max()),
            "body_phase_lag_rad": float(lag[sel].mean()),
        }
    return {
        "ramp": ramp,
        "gaits": gaits,
        "switch_drive": float(drive[min(last_active + 1, len(drive) - 1)]),
        "limb_output_max_above_3.5": float(np.abs(output[drive >= 3.5, N_BODY:]).max()),
    }


def verdict(evidence: dict[str, Any]) -> Verdict:
    """Limb output > 0.1 while walking, < 1e-3 for every d ≥ 3.5; swimming body frequency >
    2 × walking."""
    walk, swim = evidence["gaits"]["walking"], evidence["gaits"]["swimming"]
    silent = evidence["limb_output_max_above_3.5"]
    return Verdict(
        walk["limb_output_max"] > 0.1 and silent < 1e-3 and swim["body_hz"] > 2 * walk["body_hz"],
        "limb output > 0.1 at d ≈ 2, < 1e-3 for every d ≥ 3.5; body frequency swimming > 2 × "
        "walking",
        {
            "gaits": evidence["gaits"],
            "switch_drive": evidence["switch_drive"],
            "limb_output_max_above_3.5": silent,
        },
    )


def _limbs_never_saturate(patcher: Patcher) -> None:
    """The limb drive map without its upper saturation: limbs stay active above d = 3."""
    patcher.setattr(cpg, "LIMB_DRIVE", dataclasses.replace(cpg.LIMB_DRIVE, d_high=np.inf))


def _limbs_uncoupled(patcher: Patcher) -> None:
    """No limb → body coupling: the limbs cannot entrain the body while walking."""
    original = cpg.coupling_matrices

    def uncoupled(
        body_weight: float = 10.0, limb_to_body_weight: float = 30.0, limb_weight: float = 10.0
    ) -> tuple[np.ndarray, np.ndarray]:
        return original(body_weight, 0.0, limb_weight)

    patcher.setattr(cpg, "coupling_matrices", uncoupled)


BREAKS = (
    Break("limb drive map without saturation above d = 3", _limbs_never_saturate),
    Break("no limb → body coupling", _limbs_uncoupled),
)
