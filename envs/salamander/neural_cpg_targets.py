"""The high-level gait targets of the connectionist CPG, measured, and the fit's objective.

Ijspeert (Biol. Cybern. 84, 2001) found the network's parameters with a genetic algorithm in
three stages, each scored on a high-level description of the desired activity; here CMA-ES
(``stateful_rl.report.neural_cpg fit``) minimises ``objective`` over the stages of
``STAGES``:

1. ``segment``: one segmental oscillator (the body neuron types, the weights inside a
   segment, the drive weights): silence at zero drive, sustained oscillation, left-right
   antiphase and the 2007 CPG's frequency map ``cpg.BODY_DRIVE`` (ν = 0.2 d + 0.3 Hz) for
   drives 1-5.
2. ``body``: the intersegmental weights: in addition, a phase lag of 2π/8 per segment (one
   wavelength along the body) at swimming drives.
3. ``limbs``: the limb neuron types and weights, the limb drive and the limb-to-body
   projections: at walking drives (d <= ``WALK_MAX``) the limbs oscillate in a trot
   (diagonal limbs in phase) at a frequency that rises with drive, between the 2007 CPG's
   limb and body frequencies (0.2 d and 0.2 d + 0.3 Hz), and entrain the body to it with a
   standing wave (front and back half of the trunk in antiphase, each in phase with
   itself) and the 2007 CPG's girdle coordination (the trunk is bent away from a
   protracted limb); at swimming drives (d >= ``SWIM_MIN``) every limb neuron is silent
   and the body keeps the stage-2 travelling wave; at zero drive every neuron is silent.
4. ``motoneurons``: the body motoneurons (their type, the synapses onto them and their
   drive weight), which feed nothing back: the rhythm of stages 1-3 stays as it is. In
   addition to every stage-3 target: the amplitude of the body motoneuron signal rises with
   drive like the 2007 CPG's (``cpg.BODY_DRIVE``: R(d) = 0.065 d + 0.196, +23 % from
   d = 3.5 to 5), which is what makes the swimming speed rise with drive; and the two
   motoneurons of a segment are never silent together (``CO_SILENCE_MAX``). A pair that
   rests between bursts holds its joint straight (the position servo's target is 0) and
   expresses a drive difference only as a longer burst on one side; such a spine turned
   a swimmer either way depending on the start, while tonic drive to the motoneurons makes
   a side with more drive fire more over the whole cycle, like the 2007 CPG's amplitude.

Every error is scaled to [0, 1] (1 also when the quantity cannot be measured, e.g. a phase
without oscillation); ``objective`` is their weighted sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stateful_rl.envs.salamander.cpg import BODY_DRIVE, LIMB_DRIVE
from stateful_rl.envs.salamander.neural_cpg import (
    BODY_MOTOR,
    LIMB_MOTOR,
    N_BODY_NEURONS,
    N_SEGMENTS,
    PARAMETER_INDEX,
    SILENT_RATE,
    NeuralSalamanderCPG,
    from_unit,
)

AMPLITUDE_MIN = 0.3  # peak-to-peak motoneuron difference that counts as an oscillation
# Fraction of the cycle with both motoneurons of a segment silent that scores 1.
CO_SILENCE_MAX = 0.1
RISE_MIN = 0.02  # Hz: walking frequency rise between consecutive scored drives
WAVE_LAG = 2.0 * np.pi / N_SEGMENTS  # rad per segment: one wavelength along the body
# Standing wave: front half of the trunk in phase with segment 1, back half in antiphase.
STANDING_PHASE = np.where(np.arange(N_SEGMENTS) < N_SEGMENTS // 2, 0.0, np.pi)
GIRDLE_PHASE = np.pi  # trunk bend vs limb protraction in the 2007 CPG (cpg.coupling_matrices)
LF, RF, LH, RH = range(4)
# The gait switches between WALK_MAX and SWIM_MIN, around the 2007 CPG's threshold d = 3:
# walking is scored at or below WALK_MAX, swimming at or above SWIM_MIN, the band between
# is left to the network (a rate network's limbs fade out over a range of drive).
WALK_MAX, SWIM_MIN = 2.5, 3.5


def wrap(angle):
    """Angle in (−π, π]."""
    return np.angle(np.exp(1j * np.asarray(angle)))


def simulate(
    parameters: Mapping[str, float],
    drives: np.ndarray,
    seeds: Sequence[int] = (0,),
    settle: float = 5.0,
    duration: float = 10.0,
    dt: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one CPG per (seed, drive pair) from a random start for ``settle + duration`` s.

    ``drives`` [m, 2] (left, right). Returns the rates over the last ``duration`` s,
    [T, len(seeds) * m, 72] (seed-major), and the drives of each animal [len(seeds) * m, 2].
    """
    drives = np.asarray(drives, dtype=float).reshape(-1, 2)
    cpg = NeuralSalamanderCPG(parameters, n=len(seeds) * len(drives), dt=dt)
    for k, seed in enumerate(seeds):
        start = np.random.default_rng(seed).uniform(0.0, 0.5, (len(drives), cpg.xi_exc.shape[1]))
        cpg.xi_exc[k * len(drives) : (k + 1) * len(drives)] = start
    all_drives = np.tile(drives, (len(seeds), 1))
    cpg.set_drive(all_drives[:, 0], all_drives[:, 1])
    cpg.advance(round(settle / dt))
    u, _ = cpg.advance(round(duration / dt))
    return u, all_drives


def upward_crossings(y: np.ndarray, dt: float) -> np.ndarray:
    """Times (s) at which ``y`` [T] crosses its mean upwards, linearly interpolated."""
    y = y - y.mean()
    k = np.flatnonzero((y[:-1] < 0.0) & (y[1:] >= 0.0))
    return (k + y[k] / (y[k] - y[k + 1])) * dt


def frequency(y: np.ndarray, dt: float) -> np.ndarray:
    """Mean frequency (Hz) of each column of ``y`` [T, n] from its upward mean crossings;
    nan with fewer than 3 crossings."""
    out = np.full(y.shape[1], np.nan)
    for b in range(y.shape[1]):
        t = upward_crossings(y[:, b], dt)
        if t.size >= 3:
            out[b] = (t.size - 1) / (t[-1] - t[0])
    return out


def phases(y: np.ndarray, dt: float, freq: np.ndarray) -> np.ndarray:
    """Phase (rad) of the component at ``freq`` [n] of each signal ``y`` [T, n, k], over
    the longest whole number of periods that ends with the window; nan where ``freq`` is."""
    out = np.full(y.shape[1:], np.nan)
    time = np.arange(y.shape[0]) * dt
    for b in np.flatnonzero(np.isfinite(freq)):
        periods = np.floor(time[-1] * freq[b])
        if periods < 1:
            continue
        window = time >= time[-1] - periods / freq[b]
        segment = y[window, b] - y[window, b].mean(axis=0)
        carrier = np.exp(-2j * np.pi * freq[b] * time[window])
        out[b] = np.angle(carrier @ segment)
    return out


def gait_measures(u: np.ndarray, dt: float = 0.01) -> dict[str, np.ndarray]:
    """Everything the targets are scored on, from rates ``u`` [T, n, 72] (a settled window).

    Body signals ``y_k = u_{M,L,k} − u_{M,R,k}`` [T, n, 8], limb signals
    ``z_l = u_{M,P,l} − u_{M,R,l}`` [T, n, 4]. Returns, per animal:
    ``body_frequency``, ``limb_frequency`` [n] (Hz, from ``y_1`` and ``z_LF``);
    ``body_amplitude`` [n] (peak-to-peak of ``y``, least over segments);
    ``body_half_range`` [n] (half the peak-to-peak of ``y``, mean over segments: what the
    motor map turns into the spine's amplitude); ``co_silence`` [n] (fraction of the window
    in which both motoneurons of a segment fire below ``SILENT_RATE``, mean over segments);
    ``body_sustain``
    [n] (``y_1``'s peak-to-peak over the last third / the first third: 1 for a limit cycle);
    ``segment_lag`` [n, 7] (phase of ``y_k`` minus ``y_{k+1}``: positive when the head
    leads); ``left_right`` [n, 8] (phase of ``u_{M,L}`` minus ``u_{M,R}``); ``body_phase``
    [n, 8] (phase of ``y_k`` minus ``y_1``); ``limb_amplitude`` [n, 4]; ``limb_sustain`` [n];
    ``peak``, ``limb_peak`` [n] (highest rate of any neuron, of any limb neuron);
    ``limb_phase`` [n, 4] (phase of ``z_l`` minus ``z_LF``); ``girdle_phase`` [n, 2] (phase
    of ``y_1`` minus ``z_LF`` and of ``y_5`` minus ``z_LH``, at the limb frequency). Phases
    in (−π, π], nan if unmeasurable.
    """
    left, right = u[..., BODY_MOTOR[0]], u[..., BODY_MOTOR[1]]
    y = left - right
    z = u[..., LIMB_MOTOR[0]] - u[..., LIMB_MOTOR[1]]
    third = max(1, u.shape[0] // 3)
    f_body = frequency(y[:, :, 0], dt)
    f_limb = frequency(z[:, :, LF], dt)
    body = phases(y, dt, f_body)
    limbs = phases(z, dt, f_limb)
    girdle_body = phases(y[:, :, [0, N_SEGMENTS // 2]], dt, f_limb)
    return {
        "body_frequency": f_body,
        "limb_frequency": f_limb,
        "body_amplitude": np.ptp(y, axis=0).min(axis=1),
        "body_half_range": 0.5 * np.ptp(y, axis=0).mean(axis=1),
        "co_silence": ((left < SILENT_RATE) & (right < SILENT_RATE)).mean(axis=(0, 2)),
        "body_sustain": np.ptp(y[-third:, :, 0], axis=0)
        / np.maximum(np.ptp(y[:third, :, 0], axis=0), 1e-12),
        "segment_lag": wrap(body[:, :-1] - body[:, 1:]),
        "left_right": wrap(phases(left, dt, f_body) - phases(right, dt, f_body)),
        "body_phase": wrap(body - body[:, :1]),
        "limb_amplitude": np.ptp(z, axis=0),
        "limb_sustain": np.ptp(z[-third:, :, LF], axis=0)
        / np.maximum(np.ptp(z[:third, :, LF], axis=0), 1e-12),
        "peak": u.max(axis=(0, 2)),
        "limb_peak": u[..., N_BODY_NEURONS:].max(axis=(0, 2)),
        "limb_phase": wrap(limbs - limbs[:, :1]),
        "girdle_phase": wrap(girdle_body - limbs[:, [LF, LH]]),
    }


def _score(error: np.ndarray) -> float:
    """Mean of errors clipped to [0, 1], unmeasurable (nan) counting as 1."""
    error = np.asarray(error, dtype=float)
    if error.size == 0:
        return 0.0
    return float(np.mean(np.where(np.isfinite(error), np.clip(error, 0.0, 1.0), 1.0)))


def _oscillation(amplitude: np.ndarray, sustain: np.ndarray) -> np.ndarray:
    """0 for a sustained oscillation of at least ``AMPLITUDE_MIN``, up to 1 for none."""
    return 0.5 * (np.clip(1.0 - amplitude / AMPLITUDE_MIN, 0.0, 1.0) + np.clip(1.0 - sustain, 0, 1))


@dataclass(frozen=True)
class Stage:
    """One fitting stage: the parameters it frees, the drives and seeds it simulates, and the
    weight of each target in ``objective``; ``limbs``: whether drives <= 3 count as walking
    (and the limb targets are scored); ``motoneurons``: whether the motoneuron targets
    (amplitude rising with drive, no co-silence) are scored."""

    name: str
    free: tuple[str, ...]
    drives: tuple[float, ...]
    weights: Mapping[str, float]
    limbs: bool = False
    seeds: tuple[int, ...] = (0,)
    motoneurons: bool = False


def _names(*prefixes: str) -> tuple[str, ...]:
    return tuple(n for n in PARAMETER_INDEX if n.startswith(prefixes))


LIMB_WEIGHTS = {
    "rest": 1.0,
    "oscillation": 3.0,
    "frequency": 2.0,
    "antiphase": 1.0,
    "wavelength": 1.0,
    "limbs_silent": 2.0,
    "limb_oscillation": 3.0,
    "trot": 2.0,
    "entrainment": 2.0,
    "standing_wave": 2.0,
    "girdle": 2.0,
}
_NEURON = ("_threshold", "_gain", "_tau_d", "_tau_a", "_adaptation")
STAGES: dict[str, Stage] = {
    "segment": Stage(
        "segment",
        tuple(f"body_{k}{s}" for k in "EC" for s in _NEURON)
        + tuple(f"body_{c}" for c in ("EE", "EC", "EM", "CE", "CC", "CM"))
        + ("body_drive_E", "body_drive_C"),
        drives=(0.0, 1.0, 2.0, 3.0, 4.0, 5.0),
        weights={"rest": 1.0, "oscillation": 3.0, "frequency": 2.0, "antiphase": 1.0},
    ),
    "body": Stage(
        "body",
        tuple(f"{d}_{c}" for d in ("ascending", "descending") for c in ("EE", "EC", "CE", "CC")),
        drives=(2.0, 3.5, 4.0, 4.5, 5.0),
        weights={"oscillation": 3.0, "frequency": 1.0, "antiphase": 1.0, "wavelength": 2.0},
    ),
    "limbs": Stage(
        "limbs",
        tuple(f"limb_{k}{s}" for k in "EC" for s in _NEURON)
        + tuple(f"limb_{c}" for c in ("EE", "EC", "EM", "CE", "CC", "CM"))
        + _names("limb_drive", "limb_left", "limb_fore", "limb_body"),
        drives=(0.0, 1.5, 2.0, 2.5, 3.5, 4.0, 5.0),
        weights=LIMB_WEIGHTS,
        limbs=True,
        seeds=(0, 1),
    ),
    "motoneurons": Stage(
        "motoneurons",
        ("body_M_threshold", "body_M_gain", "body_M_tau_d", "body_drive_M", "body_EM", "body_CM"),
        drives=(0.0, 1.5, 2.0, 2.5, 3.5, 4.0, 4.5, 5.0),
        weights={**LIMB_WEIGHTS, "amplitude": 3.0, "co_silence": 2.0},
        limbs=True,
        seeds=(0, 1),
        motoneurons=True,
    ),
}


def errors_from_measures(
    measures: Mapping[str, np.ndarray], drives: np.ndarray, limbs: bool, motoneurons: bool = False
) -> dict[str, float]:
    """Every target's error in [0, 1] from ``gait_measures`` of animals at ``drives`` [n]
    (the symmetric drive of each); ``limbs``: score the limb targets (walking at drives
    <= ``WALK_MAX``; without them, the body's own frequency is scored at every drive);
    ``motoneurons``: score the motoneuron targets (``STAGES["motoneurons"]``)."""
    m = measures
    rest = drives < BODY_DRIVE.d_low
    active = ~rest
    swim = drives >= SWIM_MIN
    walk = limbs & active & (drives <= WALK_MAX)
    body_rhythm = active & (swim | (not limbs))  # the body oscillates at its own frequency
    nu_body, _ = BODY_DRIVE(drives)
    nu_limb, _ = LIMB_DRIVE(drives)
    # Walking: between the 2007 CPG's limb and body frequencies, and rising with drive.
    f_walk, low, high = m["limb_frequency"][walk], nu_limb[walk], nu_body[walk]
    walk_range = (np.maximum(low - f_walk, 0.0) + np.maximum(f_walk - high, 0.0)) / low
    pairs = np.flatnonzero(np.diff(drives[walk]) > 0.0)  # consecutive drives of one seed
    falling = ~(np.diff(f_walk)[pairs] > RISE_MIN)
    freq_error = np.concatenate(
        [
            walk_range,
            falling.astype(float),
            np.abs(m["body_frequency"][body_rhythm] - nu_body[body_rhythm]) / nu_body[body_rhythm],
        ]
    )
    errors = {
        "rest": _score(m["peak"][rest] / SILENT_RATE),
        "oscillation": _score(_oscillation(m["body_amplitude"], m["body_sustain"])[active]),
        "frequency": _score(freq_error),
        "antiphase": _score((1.0 - np.abs(m["left_right"]) / np.pi)[active]),
        "wavelength": _score(np.abs(m["segment_lag"][swim] - WAVE_LAG) / WAVE_LAG),
    }
    if limbs:
        limb_phase = np.abs(m["limb_phase"][walk])
        trot = np.stack([limb_phase[:, RH], np.pi - limb_phase[:, RF], np.pi - limb_phase[:, LH]])
        errors |= {
            "limbs_silent": _score(m["limb_peak"][swim] / SILENT_RATE),
            "limb_oscillation": _score(
                _oscillation(m["limb_amplitude"][walk].min(axis=1), m["limb_sustain"][walk])
            ),
            "trot": _score(trot / np.pi),
            "entrainment": _score(
                np.abs(m["body_frequency"][walk] - m["limb_frequency"][walk])
                / m["limb_frequency"][walk]
            ),
            "standing_wave": _score(np.abs(wrap(m["body_phase"][walk] - STANDING_PHASE)) / np.pi),
            "girdle": _score(np.abs(wrap(m["girdle_phase"][walk] - GIRDLE_PHASE)) / np.pi),
        }
    if motoneurons:
        # Consecutive swimming drives of one seed: the log amplitude ratio against the 2007
        # CPG's, scaled so that an amplitude flat in drive scores 1.
        steps = np.flatnonzero(np.diff(drives) > 0.0)
        steps = steps[swim[steps]]
        _, reference = BODY_DRIVE(drives)
        wanted = np.log(reference[steps + 1] / reference[steps])
        amplitude = m["body_half_range"]
        got = np.log(np.maximum(amplitude[steps + 1], 1e-12) / np.maximum(amplitude[steps], 1e-12))
        errors |= {
            "amplitude": _score(np.abs(got - wanted) / wanted),
            "co_silence": _score(m["co_silence"][active] / CO_SILENCE_MAX),
        }
    return errors


def target_errors(parameters: Mapping[str, float], stage: Stage) -> dict[str, float]:
    """Each target's error in [0, 1] for a complete parameter dict, scored as ``stage`` does
    (its drives and seeds)."""
    drives = np.repeat(np.asarray(stage.drives)[:, None], 2, axis=1)
    u, all_drives = simulate(parameters, drives, seeds=stage.seeds)
    return errors_from_measures(gait_measures(u), all_drives[:, 0], stage.limbs, stage.motoneurons)


def objective(x: np.ndarray, stage: Stage, base: Mapping[str, float]) -> float:
    """The weighted target error of ``base`` with ``stage.free`` set from the unit-box point
    ``x`` (``neural_cpg.from_unit``): what CMA-ES minimises."""
    errors = target_errors(from_unit(x, stage.free, base), stage)
    return float(sum(w * errors[name] for name, w in stage.weights.items()))
