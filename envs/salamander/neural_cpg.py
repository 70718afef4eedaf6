"""Ijspeert's connectionist salamander CPG: a leaky-integrator rate-neuron network (numpy + numba).

Implements the controller of Ijspeert, "A connectionist central pattern generator for the
aquatic and terrestrial gaits of a simulated salamander", Biological Cybernetics 84 (2001),
331-348, on the 8 body joints and 4 limbs of ``model.SalamanderBody``:

- Neuron model (Ekeberg, Biol. Cybern. 69, 1993), per neuron, with ``Σ+`` (``Σ−``) the sum
  over its excitatory (inhibitory) inputs, each a weight times the presynaptic output,
  the tonic drive included::

      τ_D dξ+/dt = Σ+ − ξ+,   τ_D dξ−/dt = Σ− − ξ−,   τ_A dϑ/dt = u − ϑ,
      u = max(0, 1 − exp((Θ − ξ+) Γ) − ξ− − μ ϑ)

  ``ξ+``, ``ξ−``: excitatory and inhibitory membrane states, ``ϑ``: frequency adaptation,
  ``u``: mean firing rate; threshold ``Θ``, gain ``Γ``, adaptation ``μ``, time constants
  ``τ_D``, ``τ_A`` (s) per neuron type.
- Body CPG: 8 segmental oscillators (head to tail), each two halves (left, right) of an
  excitatory interneuron E (excites its own half), a contralateral inhibitory interneuron C
  (inhibits the other half) and a motoneuron M. Intersegmental coupling: each connection
  type also projects to the neighbouring segments, with its own ascending (towards the head)
  and descending weight (the fit frees those onto E and C neurons).
- Limb CPG: one oscillator per limb (LF, RF, LH, RH) of the same three neuron types in two
  halves (protractor, retractor); C neurons inhibit the same half of the neighbouring limbs
  (left-right and fore-hind), so that diagonal limbs end in phase (trot). Limb C neurons
  also inhibit the body E neurons of their girdle (fore: segments 1-4, hind: 5-8), on the
  limb's side and on the other: inhibition, because a well-driven E neuron's excitation
  saturates (the exponential) while inhibition subtracts from its rate.
- Tonic drive ``d`` (left, right: each side's body half and limbs read their side's drive)
  enters ``Σ+`` (and, for limb neurons, ``Σ−``: the limbs stop above the gait threshold)
  with a weight per neuron type.

The parameters (neuron types and weights, ``PARAMETERS``) were found by CMA-ES in the
paper's three stages (segmental oscillator, intersegmental coupling, limbs; it used a
genetic algorithm) and a fourth for the body motoneurons, against its kind of high-level
targets (``neural_cpg_targets``): silence without drive, sustained oscillation, left-right
antiphase, frequency rising with drive (the 2007 CPG's ``cpg.BODY_DRIVE`` when swimming, so
that both CPGs fit the same drive range and environments), one body wavelength when
swimming (phase lag 2π/8 per segment), limbs silent when swimming (d >= 3.5) and trotting
when walking (d <= 2.5) with a standing wave on the body; then, with the rhythm fixed (the
motoneurons feed nothing back), a motoneuron output whose amplitude rises with drive like
the 2007 CPG's and whose two sides of a segment are never silent together (tonic drive
onto the motoneurons: a side with more drive fires more over the whole cycle). The fit is
``python -m stateful_rl.report.neural_cpg fit``; its result ships as ``neural_cpg.json``
next to this module.

Integration: exponential Euler at ``h = dt / substeps`` (``INTEGRATION_STEP`` = 5 ms, the
fit's): the inputs are held over a substep and each leaky integrator is advanced exactly,
``x ← Σ + (x − Σ) e^{−h/τ}``, stable for any step. The loops are compiled (numba) like
``cpg.py``'s.

Neuron order: body neurons ``kind * 16 + side * 8 + segment`` (kind E, C, M; side left,
right), then limb neurons ``48 + kind * 8 + limb * 2 + half`` (limb LF, RF, LH, RH; half
protractor, retractor); ``N_NEURONS`` = 72.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import scipy.optimize

from stateful_rl.envs.salamander.checks import check_float
from stateful_rl.envs.salamander.cpg import LIMB_IS_LEFT, N_LIMBS, N_SEGMENTS

KINDS = ("E", "C", "M")
E, C, M = range(3)
N_BODY_NEURONS = 3 * 2 * N_SEGMENTS
N_LIMB_NEURONS = 3 * 2 * N_LIMBS
N_NEURONS = N_BODY_NEURONS + N_LIMB_NEURONS
N_STATES = 3 * N_NEURONS
# Limb-to-body projections: the fore limbs (LF, RF) drive the segments of the front half of
# the trunk, the hind limbs the back half (the 2007 CPG's girdles).
GIRDLE_SEGMENTS = (range(N_SEGMENTS // 2), range(N_SEGMENTS // 2, N_SEGMENTS))
FITTED_PATH = Path(__file__).with_name("neural_cpg.json")
# A neuron firing below this rate counts as silent (the fit's targets; the limb motor map's
# floor of activity).
SILENT_RATE = 0.02
# The exponential-Euler step (s) of the fit: its frequencies are a few percent lower than in
# the step -> 0 limit, which the fit absorbed.
INTEGRATION_STEP = 0.005


def body_neuron(kind: int, side, segment) -> np.ndarray:
    """Index of the body neuron of ``kind`` (E, C, M) on ``side`` (0 left, 1 right)."""
    return kind * 2 * N_SEGMENTS + np.asarray(side) * N_SEGMENTS + np.asarray(segment)


def limb_neuron(kind: int, limb, half) -> np.ndarray:
    """Index of the limb neuron of ``kind`` in ``limb`` (LF, RF, LH, RH) and ``half``
    (0 protractor, 1 retractor)."""
    return N_BODY_NEURONS + kind * 2 * N_LIMBS + np.asarray(limb) * 2 + np.asarray(half)


SEGMENTS = np.arange(N_SEGMENTS)
LIMBS = np.arange(N_LIMBS)
BODY_MOTOR = (body_neuron(M, 0, SEGMENTS), body_neuron(M, 1, SEGMENTS))  # (left, right) [8]
LIMB_MOTOR = (limb_neuron(M, LIMBS, 0), limb_neuron(M, LIMBS, 1))  # (protractor, retractor)
LIMB_EXCITATORY = (limb_neuron(E, LIMBS, 0), limb_neuron(E, LIMBS, 1))


@dataclass(frozen=True)
class Parameter:
    """One scalar of the network: its default, and the box CMA-ES searches (log scale for
    time constants and gains)."""

    name: str
    default: float
    low: float
    high: float
    log: bool = False


def _neuron_type(prefix: str, theta, gamma, tau_d, tau_a, mu) -> list[Parameter]:
    return [
        Parameter(f"{prefix}_threshold", theta, -1.0, 1.0),
        Parameter(f"{prefix}_gain", gamma, 0.2, 5.0, log=True),
        Parameter(f"{prefix}_tau_d", tau_d, 0.01, 0.3, log=True),
        Parameter(f"{prefix}_tau_a", tau_a, 0.05, 3.0, log=True),
        Parameter(f"{prefix}_adaptation", mu, 0.0, 3.0),
    ]


# Connection types inside an oscillator: (name, source kind, target kind, crosses to the
# other half). E excites its own half, C inhibits the other one.
CONNECTIONS = (
    ("EE", E, E, False),
    ("EC", E, C, False),
    ("EM", E, M, False),
    ("CE", C, E, True),
    ("CC", C, C, True),
    ("CM", C, M, True),
)


def _weights(prefix: str, defaults: Sequence[float], high: float = 3.0) -> list[Parameter]:
    return [
        Parameter(f"{prefix}_{name}", w, 0.0, high)
        for (name, *_), w in zip(CONNECTIONS, defaults, strict=True)
    ]


# Defaults: Ekeberg's neuron types with slower adaptation (salamander gaits run at 0.3-1.3 Hz,
# the lamprey's at 2-10 Hz), limb E neurons silent without drive; the fitted values are in
# neural_cpg.json.
PARAMETERS: tuple[Parameter, ...] = (
    *_neuron_type("body_E", -0.2, 1.8, 0.03, 0.5, 0.3),
    *_neuron_type("body_C", 0.5, 1.0, 0.02, 0.5, 0.3),
    *_neuron_type("body_M", 0.1, 0.3, 0.02, 0.5, 0.0),
    *_weights("body", (0.4, 0.4, 1.0, 1.0, 0.5, 0.5)),
    Parameter("body_drive_E", 0.3, 0.0, 1.5),
    Parameter("body_drive_C", 0.3, 0.0, 1.5),
    Parameter("body_drive_M", 0.0, 0.0, 1.5),
    *_weights("ascending", (0.0,) * 6, high=2.0),
    *_weights("descending", (0.0,) * 6, high=2.0),
    *_neuron_type("limb_E", 0.2, 1.8, 0.03, 0.5, 0.3),
    *_neuron_type("limb_C", 0.5, 1.0, 0.02, 0.5, 0.3),
    *_neuron_type("limb_M", 0.1, 0.3, 0.02, 0.5, 0.0),
    *_weights("limb", (0.4, 0.4, 1.0, 1.0, 0.5, 0.5)),
    Parameter("limb_drive_E", 0.0, 0.0, 1.5),
    Parameter("limb_drive_C", 0.0, 0.0, 1.5),
    Parameter("limb_drive_inhibition_E", 0.0, 0.0, 1.0),
    Parameter("limb_drive_inhibition_C", 0.0, 0.0, 1.0),
    Parameter("limb_left_right", 0.0, 0.0, 2.0),  # C → E of the same half, other side
    Parameter("limb_fore_hind", 0.0, 0.0, 2.0),  # C → E of the same half, other girdle
    # Limb C ⊣ girdle body E. The defaults follow the 2007 CPG's limb-to-body phase bias π
    # (the trunk bends away from a protracting limb): a protractor inhibits its own side.
    Parameter("limb_body_protractor_ipsi", 1.0, 0.0, 5.0),
    Parameter("limb_body_protractor_contra", 0.0, 0.0, 5.0),
    Parameter("limb_body_retractor_ipsi", 0.0, 0.0, 5.0),
    Parameter("limb_body_retractor_contra", 1.0, 0.0, 5.0),
)
PARAMETER_INDEX = {p.name: p for p in PARAMETERS}


def default_parameters() -> dict[str, float]:
    """Every parameter at its default (oscillators uncoupled, limbs without drive)."""
    return {p.name: p.default for p in PARAMETERS}


def check_parameters(parameters: Mapping[str, float]) -> dict[str, float]:
    """``parameters`` as a complete, validated dict: unknown names, missing names and values
    outside their box (``PARAMETERS``) raise ``ValueError``."""
    unknown = set(parameters) - set(PARAMETER_INDEX)
    missing = set(PARAMETER_INDEX) - set(parameters)
    if unknown or missing:
        raise ValueError(
            f"parameters: unknown names {sorted(unknown)}, missing names {sorted(missing)}"
        )
    checked = {}
    for name, value in parameters.items():
        p = PARAMETER_INDEX[name]
        value = float(value)
        if not p.low <= value <= p.high:  # also rejects nan
            raise ValueError(f"parameter {name} must be in [{p.low}, {p.high}], got {value}")
        checked[name] = value
    return checked


def to_unit(parameters: Mapping[str, float], names: Sequence[str]) -> np.ndarray:
    """The named parameters as a point of the unit box [0, 1]^k that CMA-ES searches."""
    out = []
    for name in names:
        p, value = PARAMETER_INDEX[name], parameters[name]
        if p.log:
            out.append(np.log(value / p.low) / np.log(p.high / p.low))
        else:
            out.append((value - p.low) / (p.high - p.low))
    return np.array(out)


def from_unit(x: np.ndarray, names: Sequence[str], base: Mapping[str, float]) -> dict[str, float]:
    """``base`` with the named parameters set from a point ``x`` of the unit box (clipped)."""
    out = dict(base)
    for name, xi in zip(names, np.clip(x, 0.0, 1.0), strict=True):
        p = PARAMETER_INDEX[name]
        value = p.low * (p.high / p.low) ** xi if p.log else p.low + xi * (p.high - p.low)
        out[name] = float(np.clip(value, p.low, p.high))
    return out


@dataclass(frozen=True)
class Network:
    """The network as arrays: per neuron [72] constants, and its non-zero synapses as edges
    (``source`` → ``target``, ``weight`` >= 0, ``inhibitory``: enters ``Σ−``).

    ``drive_side`` [72]: which drive (0 left, 1 right) a neuron reads, with weights
    ``drive_excitatory`` (into ``Σ+``) and ``drive_inhibitory`` (into ``Σ−``).
    ``start_excitatory`` [72]: the deterministic initial ``ξ+`` (all else zero) that breaks
    the left-right symmetry, left body half and LF/RH protractors first.
    """

    threshold: np.ndarray
    gain: np.ndarray
    tau_d: np.ndarray
    tau_a: np.ndarray
    adaptation: np.ndarray
    source: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    inhibitory: np.ndarray
    drive_side: np.ndarray
    drive_excitatory: np.ndarray
    drive_inhibitory: np.ndarray
    start_excitatory: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """The arrays by field name (what ``encoders.neural_cpg`` builds from)."""
        return dict(self.__dict__)

    def dense_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Excitatory and inhibitory weight matrices ``W[target, source]``, [72, 72] each."""
        w = np.zeros((2, N_NEURONS, N_NEURONS))
        np.add.at(w, (self.inhibitory.astype(int), self.target, self.source), self.weight)
        return w[0], w[1]


def build_network(parameters: Mapping[str, float]) -> Network:
    """The ``Network`` of a complete parameter dict (``check_parameters``)."""
    p = check_parameters(parameters)
    per_neuron = {key: np.zeros(N_NEURONS) for key in ("threshold", "gain", "tau_d", "tau_a")}
    per_neuron["adaptation"] = np.zeros(N_NEURONS)
    drive_side = np.zeros(N_NEURONS, dtype=np.int64)
    drive_exc, drive_inh = np.zeros(N_NEURONS), np.zeros(N_NEURONS)
    for kind, name in enumerate(KINDS):
        for part, index in (
            ("body", body_neuron(kind, np.arange(2)[:, None], SEGMENTS).ravel()),
            ("limb", limb_neuron(kind, LIMBS[:, None], np.arange(2)).ravel()),
        ):
            prefix = f"{part}_{name}"
            per_neuron["threshold"][index] = p[f"{prefix}_threshold"]
            per_neuron["gain"][index] = p[f"{prefix}_gain"]
            per_neuron["tau_d"][index] = p[f"{prefix}_tau_d"]
            per_neuron["tau_a"][index] = p[f"{prefix}_tau_a"]
            per_neuron["adaptation"][index] = p[f"{prefix}_adaptation"]
        drive_side[body_neuron(kind, 1, SEGMENTS)] = 1
        drive_side[limb_neuron(kind, np.flatnonzero(~LIMB_IS_LEFT)[:, None], np.arange(2))] = 1
        drive_exc[body_neuron(kind, np.arange(2)[:, None], SEGMENTS)] = p[f"body_drive_{name}"]
        if kind != M:
            limbs = limb_neuron(kind, LIMBS[:, None], np.arange(2))
            drive_exc[limbs] = p[f"limb_drive_{name}"]
            drive_inh[limbs] = p[f"limb_drive_inhibition_{name}"]

    edges: dict[tuple[int, int], float] = {}

    def connect(source, target, weight: float) -> None:
        if weight > 0.0:
            for s, t in zip(np.ravel(source), np.ravel(target), strict=True):
                edges[int(s), int(t)] = edges.get((int(s), int(t)), 0.0) + weight

    for name, src, dst, crosses in CONNECTIONS:
        for side in (0, 1):
            other = 1 - side if crosses else side
            for prefix, shift in (("body", 0), ("ascending", -1), ("descending", 1)):
                segments = SEGMENTS[(SEGMENTS + shift >= 0) & (SEGMENTS + shift < N_SEGMENTS)]
                connect(
                    body_neuron(src, side, segments),
                    body_neuron(dst, other, segments + shift),
                    p[f"{prefix}_{name}"],
                )
            connect(
                limb_neuron(src, LIMBS, side),
                limb_neuron(dst, LIMBS, other),
                p[f"limb_{name}"],
            )
    lf, rf, lh, rh = LIMBS
    for key, pairs in (
        ("limb_left_right", ((lf, rf), (lh, rh))),
        ("limb_fore_hind", ((lf, lh), (rf, rh))),
    ):
        for a, b in pairs:
            for half in (0, 1):
                connect(limb_neuron(C, a, half), limb_neuron(E, b, half), p[key])
                connect(limb_neuron(C, b, half), limb_neuron(E, a, half), p[key])
    for limb in LIMBS:
        segments = np.array(GIRDLE_SEGMENTS[limb // 2])
        side = 0 if LIMB_IS_LEFT[limb] else 1
        for half, half_name in enumerate(("protractor", "retractor")):
            for body_side, reach in ((side, "ipsi"), (1 - side, "contra")):
                connect(
                    np.full(segments.size, limb_neuron(C, limb, half)),
                    body_neuron(E, body_side, segments),
                    p[f"limb_body_{half_name}_{reach}"],
                )

    keys = sorted(edges, key=lambda st: (st[1], st[0]))  # by target, then source
    source = np.array([s for s, _ in keys], dtype=np.int64)
    inhibitory = np.isin(
        source,
        np.concatenate(
            [
                body_neuron(C, 0, SEGMENTS),
                body_neuron(C, 1, SEGMENTS),
                limb_neuron(C, LIMBS, 0),
                limb_neuron(C, LIMBS, 1),
            ]
        ),
    )
    start = np.zeros(N_NEURONS)
    start[body_neuron(E, 0, SEGMENTS)] = 0.5
    start[limb_neuron(E, np.array([lf, rh]), 0)] = 0.5
    start[limb_neuron(E, np.array([rf, lh]), 1)] = 0.5
    return Network(
        **per_neuron,
        source=source,
        target=np.array([t for _, t in keys], dtype=np.int64),
        weight=np.array([edges[k] for k in keys]),
        inhibitory=inhibitory,
        drive_side=drive_side,
        drive_excitatory=drive_exc,
        drive_inhibitory=drive_inh,
        start_excitatory=start,
    )


def load_fitted(path: Path = FITTED_PATH) -> dict:
    """The fit result shipped with the package: ``{"parameters": {...}, "motor_map": {...},
    ...}`` (see ``stateful_rl.report.neural_cpg``)."""
    with open(path) as f:
        return json.load(f)


@numba.njit(cache=True, nogil=True)
def _rates(xi_exc, xi_inh, theta, threshold, gain, adaptation, u) -> None:
    """Firing rates ``u`` [N] of one animal's states [N] (module docstring)."""
    for i in range(u.size):
        value = 1.0 - np.exp((threshold[i] - xi_exc[i]) * gain[i]) - xi_inh[i]
        value -= adaptation[i] * theta[i]
        u[i] = value if value > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def _integrate(
    xi_exc: np.ndarray,
    xi_inh: np.ndarray,
    theta: np.ndarray,
    drives: np.ndarray,
    threshold: np.ndarray,
    gain: np.ndarray,
    adaptation: np.ndarray,
    decay_d: np.ndarray,
    decay_a: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray,
    inhibitory: np.ndarray,
    drive_side: np.ndarray,
    drive_exc: np.ndarray,
    drive_inh: np.ndarray,
    substeps: int,
    u_out: np.ndarray,
    theta_out: np.ndarray,
) -> None:
    """``len(u_out)`` steps of ``substeps`` exponential-Euler substeps, in place on the
    states [n, N]; rates and adaptation after each step go to ``u_out``, ``theta_out``
    [steps, n, N]. ``decay_*`` = exp(−h/τ_*) per neuron."""
    n_neurons = xi_exc.shape[1]
    u = np.empty(n_neurons)
    sum_exc = np.empty(n_neurons)
    sum_inh = np.empty(n_neurons)
    for k in range(u_out.shape[0]):
        for b in range(xi_exc.shape[0]):
            xe, xi, th = xi_exc[b], xi_inh[b], theta[b]
            for _ in range(substeps):
                _rates(xe, xi, th, threshold, gain, adaptation, u)
                for i in range(n_neurons):
                    d = drives[b, drive_side[i]]
                    sum_exc[i] = drive_exc[i] * d
                    sum_inh[i] = drive_inh[i] * d
                for e in range(source.size):
                    if inhibitory[e]:
                        sum_inh[target[e]] += weight[e] * u[source[e]]
                    else:
                        sum_exc[target[e]] += weight[e] * u[source[e]]
                for i in range(n_neurons):
                    xe[i] = sum_exc[i] + (xe[i] - sum_exc[i]) * decay_d[i]
                    xi[i] = sum_inh[i] + (xi[i] - sum_inh[i]) * decay_d[i]
                    th[i] = u[i] + (th[i] - u[i]) * decay_a[i]
            _rates(xe, xi, th, threshold, gain, adaptation, u)
            u_out[k, b] = u
            theta_out[k, b] = th


class NeuralSalamanderCPG:
    """A batch of ``n`` independent connectionist salamander CPGs (module docstring).

    State: ``xi_exc``, ``xi_inh``, ``theta`` (adaptation), each [n, 72]. Drives are given per
    side, like ``cpg.SalamanderCPG``: a larger left than right drive makes the left body
    motoneurons fire more, bending the body to the left (``NeuralMotorMap``), which turns
    the animal left in water and on land.

    Args:
        parameters: a complete parameter dict (default: the fitted ``neural_cpg.json``).
        n: number of animals.
        dt: output step (s): ``advance`` returns rates every ``dt``.
        substeps: exponential-Euler substeps per ``dt`` (default: steps of
            ``INTEGRATION_STEP``, the step the parameters were fitted with).
    """

    def __init__(
        self,
        parameters: Mapping[str, float] | None = None,
        n: int = 1,
        dt: float = 0.01,
        substeps: int | None = None,
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not dt > 0.0:
            raise ValueError(f"dt must be > 0 s, got {dt}")
        if substeps is None:
            substeps = max(1, round(dt / INTEGRATION_STEP))
        if substeps < 1:
            raise ValueError(f"substeps must be >= 1, got {substeps}")
        if parameters is None:
            parameters = load_fitted()["parameters"]
        self.parameters = check_parameters(parameters)
        self.network = build_network(self.parameters)
        self.n, self.dt, self.substeps = n, dt, substeps
        h = dt / substeps
        self._decay_d = np.exp(-h / self.network.tau_d)
        self._decay_a = np.exp(-h / self.network.tau_a)
        self.xi_exc = np.zeros((n, N_NEURONS))
        self.xi_inh = np.zeros((n, N_NEURONS))
        self.theta = np.zeros((n, N_NEURONS))
        self.drives = np.zeros((n, 2))
        self.reset()

    def reset(self, rng: np.random.Generator | None = None, index: int | None = None) -> None:
        """``ξ−`` = ``ϑ`` = 0; ``ξ+`` = ``network.start_excitatory``, or uniform in [0, 0.5)
        per neuron from ``rng``. All animals, or only animal ``index`` (72 draws from
        ``rng``)."""
        rows = slice(None) if index is None else index
        if rng is None:
            self.xi_exc[rows] = self.network.start_excitatory
        else:
            self.xi_exc[rows] = rng.uniform(0.0, 0.5, self.xi_exc[rows].shape)
        self.xi_inh[rows] = 0.0
        self.theta[rows] = 0.0

    def set_drive(self, drive_left, drive_right) -> None:
        """Set the tonic drives (scalars or [n] arrays); they hold until the next call."""
        drives = np.empty_like(self.drives)
        drives[:, 0], drives[:, 1] = drive_left, drive_right
        if not np.isfinite(drives).all():
            raise ValueError(f"drives must be finite, got {drive_left!r}, {drive_right!r}")
        self.drives[:] = drives

    def step(self) -> None:
        """Advance every animal by ``dt``."""
        self.advance(1)

    def advance(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """``steps`` steps of ``dt``; the rates ``u`` and adaptations ``ϑ`` after each,
        both [steps, n, 72] (``NeuralMotorMap``'s input)."""
        u = np.empty((steps, self.n, N_NEURONS))
        theta = np.empty((steps, self.n, N_NEURONS))
        net = self.network
        _integrate(
            self.xi_exc,
            self.xi_inh,
            self.theta,
            self.drives,
            net.threshold,
            net.gain,
            net.adaptation,
            self._decay_d,
            self._decay_a,
            net.source,
            net.target,
            net.weight,
            net.inhibitory,
            net.drive_side,
            net.drive_excitatory,
            net.drive_inhibitory,
            self.substeps,
            u,
            theta,
        )
        return u, theta

    @property
    def output(self) -> np.ndarray:
        """Firing rates ``u`` [n, 72] of the current state."""
        return rates(self.network, self.xi_exc, self.xi_inh, self.theta)

    def body_setpoints(self) -> np.ndarray:
        """Motoneuron differences ``u_{M,L} − u_{M,R}`` per segment, head to tail, [n, 8]."""
        u = self.output
        return u[:, BODY_MOTOR[0]] - u[:, BODY_MOTOR[1]]


def rates(net: Network, xi_exc, xi_inh, theta) -> np.ndarray:
    """Firing rates ``u`` of states [..., 72] (numpy, any batch shape)."""
    value = 1.0 - np.exp((net.threshold - xi_exc) * net.gain) - xi_inh - net.adaptation * theta
    return np.maximum(value, 0.0)


class NeuralMotorMap:
    """Network output → joint position targets (rad) for the 8 body and 4 × 3 limb joints.

    Both parts read a pair of antagonist motoneurons through Ekeberg's muscle model
    (Biol. Cybern. 69, 1993; the muscles of Ijspeert 2001's simulated salamander): torque
    ``α (M_a − M_b) − β (M_a + M_b + γ) φ − δ φ̇`` on a joint at angle ``φ``, whose stiffness
    grows with the pair's activity. The joints here are position servos of fixed stiffness,
    so each part takes one limit of the model:

    - Body: ``q_k = body_gain (u_{M,L,k} − u_{M,R,k})`` (positive: bent to the left), the
      torque term on a spine whose stiffness is its own (``γ`` dominates): the bend grows
      with the motoneurons' activity, and with it the swimming speed with drive.
    - Limbs: the pair's equilibrium with activity-dominated stiffness (small ``γ`` =
      ``limb_floor``), ``s = (u_{M,P} − u_{M,R}) / (u_{M,P} + u_{M,R} + limb_floor) /
      limb_scale`` (protractor, retractor): which half fires sets the stride, not how
      strongly, as the 2007 map's ``swing cos θ`` does. The limb oscillators' amplitude falls
      with drive towards the gait switch; read as a raw difference it gave the side with
      more drive the shorter strides, and a walking animal spun towards it.
      With the limb activity ``g = min((ϑ_{E,P} + ϑ_{E,R}) / activity_scale, 1)`` (the E
      neurons' adaptation is their recent mean rate: 0 for a silent limb):
      ``yaw = g swing s − (1 − g) fold`` (silent limbs fold back, the swimming posture),
      ``lift = g lift max(0, s)`` (the foot is up while the protractor fires), knee 0.

    ``body_gain``, ``limb_scale`` and ``activity_scale`` are calibrated by the fit so that
    the joint amplitudes match ``cpg.MotorMap``'s on the 2007 CPG at d = 4 (swimming) and
    the limb swing is ``swing`` at d = 2 (walking).
    """

    def __init__(
        self,
        body_gain: float,
        limb_scale: float,
        activity_scale: float,
        swing: float = 0.7,
        lift: float = 0.6,
        fold: float = 1.2,
        limb_floor: float = SILENT_RATE,
    ) -> None:
        # Gains and scales are positive (firing rates are in [0, 1)); angles in rad.
        self.body_gain = check_float("body_gain", body_gain, 0.0, 100.0, open_low=True)
        self.limb_scale = check_float("limb_scale", limb_scale, 0.0, 10.0, open_low=True)
        self.activity_scale = check_float(
            "activity_scale", activity_scale, 0.0, 10.0, open_low=True
        )
        self.swing = check_float("swing", swing, 0.0, np.pi)
        self.lift = check_float("lift", lift, 0.0, np.pi)
        self.fold = check_float("fold", fold, -np.pi, np.pi)
        self.limb_floor = check_float("limb_floor", limb_floor, 0.0, 1.0, open_low=True)

    @classmethod
    def fitted(cls, path: Path = FITTED_PATH) -> NeuralMotorMap:
        """The motor map calibrated by the shipped fit."""
        return cls(**load_fitted(path)["motor_map"])

    def __call__(self, u: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Joint targets [..., 20] (``model.JOINT_NAMES`` order) from rates and adaptations
        [..., 72], e.g. ``NeuralSalamanderCPG.advance``'s."""
        body = self.body_gain * (u[..., BODY_MOTOR[0]] - u[..., BODY_MOTOR[1]])
        protractor, retractor = u[..., LIMB_MOTOR[0]], u[..., LIMB_MOTOR[1]]
        s = (protractor - retractor) / (protractor + retractor + self.limb_floor)
        s /= self.limb_scale
        activity = theta[..., LIMB_EXCITATORY[0]] + theta[..., LIMB_EXCITATORY[1]]
        g = np.minimum(activity / self.activity_scale, 1.0)
        yaw = g * self.swing * s - (1.0 - g) * self.fold
        lift = g * self.lift * np.maximum(s, 0.0)
        legs = np.stack([yaw, lift, np.zeros_like(yaw)], axis=-1)
        return np.concatenate([body, legs.reshape(*legs.shape[:-2], 3 * N_LIMBS)], axis=-1)


# -- the dynamical-systems view ---------------------------------------------------------------
def vector_field(net: Network, state: np.ndarray, drives: np.ndarray) -> np.ndarray:
    """Time derivative of the continuous-time dynamics (module docstring) at ``state``
    [3 * 72] = (ξ+, ξ−, ϑ) under constant ``drives`` (left, right); [3 * 72] per second."""
    xi_exc, xi_inh, theta = np.split(np.asarray(state, dtype=float), 3)
    u = rates(net, xi_exc, xi_inh, theta)
    w_exc, w_inh = net.dense_weights()
    d = np.asarray(drives, dtype=float)[net.drive_side]
    sum_exc = w_exc @ u + net.drive_excitatory * d
    sum_inh = w_inh @ u + net.drive_inhibitory * d
    return np.concatenate(
        [(sum_exc - xi_exc) / net.tau_d, (sum_inh - xi_inh) / net.tau_d, (u - theta) / net.tau_a]
    )


def jacobian(net: Network, state: np.ndarray) -> np.ndarray:
    """Jacobian of ``vector_field`` with respect to the state, [3 * 72, 3 * 72] (1/s); the
    drive enters additively, so it does not appear. Where a rate is clipped at 0 its
    derivatives are 0 (the one-sided derivative of the silent side)."""
    xi_exc, xi_inh, theta = np.split(np.asarray(state, dtype=float), 3)
    exponential = np.exp((net.threshold - xi_exc) * net.gain)
    active = (1.0 - exponential - xi_inh - net.adaptation * theta) > 0.0
    # du/d(ξ+, ξ−, ϑ), per neuron
    du = np.stack([net.gain * exponential, -np.ones(N_NEURONS), -net.adaptation]) * active
    w_exc, w_inh = net.dense_weights()
    n = N_NEURONS
    jac = np.zeros((3 * n, 3 * n))
    for column in range(3):
        block = slice(column * n, (column + 1) * n)
        jac[:n, block] = w_exc * du[column] / net.tau_d[:, None]
        jac[n : 2 * n, block] = w_inh * du[column] / net.tau_d[:, None]
        jac[2 * n :, block] = np.diag(du[column] / net.tau_a)
    jac[np.arange(2 * n), np.arange(2 * n)] -= np.tile(1.0 / net.tau_d, 2)
    jac[np.arange(2 * n, 3 * n), np.arange(2 * n, 3 * n)] -= 1.0 / net.tau_a
    return jac


def fixed_point(net: Network, drives: np.ndarray, iterations: int = 50) -> np.ndarray:
    """A fixed point of the continuous-time dynamics under constant ``drives`` (left, right),
    [3 * 72] (an oscillator's fixed point is unstable: integrating never reaches it).

    At a fixed point ϑ = u and ξ± equal their inputs, so the rates solve u = max(0, g(u))
    with g the rate formula. Active-set iteration (a semismooth Newton method): guess the
    firing neurons, solve the smooth equations u_A = g_A(u) with the others at 0 (Powell's
    hybrid method), re-guess from the sign of g, until the guess repeats. Starts from all
    rates at 0.3, then at 0. Raises ``RuntimeError`` when neither start settles."""
    drives = np.asarray(drives, dtype=float)
    w_exc, w_inh = net.dense_weights()
    side = drives[net.drive_side]

    def state_of(u: np.ndarray) -> np.ndarray:
        xi_exc = w_exc @ u + net.drive_excitatory * side
        xi_inh = w_inh @ u + net.drive_inhibitory * side
        return np.concatenate([xi_exc, xi_inh, u])

    def g(u: np.ndarray) -> np.ndarray:
        xi_exc, xi_inh, theta = np.split(state_of(u), 3)
        return 1.0 - np.exp((net.threshold - xi_exc) * net.gain) - xi_inh - net.adaptation * theta

    def on(active: np.ndarray, values: np.ndarray) -> np.ndarray:
        u = np.zeros(N_NEURONS)
        u[active] = values
        return u

    for start in (0.3, 0.0):
        u = np.full(N_NEURONS, start)
        for _ in range(iterations):
            active = g(u) > 0.0
            values = scipy.optimize.root(
                lambda v, a=active: v - g(on(a, v))[a], u[active] + 0.05, tol=1e-14
            ).x
            u = on(active, values)
            if (values >= 0).all() and np.array_equal(g(u) > 0.0, active):
                state = state_of(u)
                if np.abs(vector_field(net, state, drives)).max() < 1e-8:
                    return state
                break
            u = np.maximum(u, 0.0)
    raise RuntimeError(f"no fixed point found at drives {drives}")


def eigenvalues(net: Network, drives: np.ndarray) -> np.ndarray:
    """Eigenvalues (1/s) of the Jacobian at ``fixed_point``, largest real part first."""
    values = np.linalg.eigvals(jacobian(net, fixed_point(net, drives)))
    return values[np.argsort(-values.real, kind="stable")]
