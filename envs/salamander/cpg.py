"""Ijspeert's salamander central pattern generator, batched over animals (numpy + numba).

Implements the network of Ijspeert, Crespi, Ryczko and Cabelguen, "From swimming to walking
with a salamander robot driven by a spinal cord model", Science 315 (2007), 1416-1420,
and its supplementary material:

- 20 amplitude-controlled phase oscillators: 16 body oscillators (8 segments, left and
  right) and 4 limb oscillators;
- phase:      dθ_i/dt = 2π ν_i + Σ_j r_j w_ij sin(θ_j − θ_i − φ_ij);
- amplitude:  d²r_i/dt² = a (a/4 (R_i − r_i) − dr_i/dt), a = 20 (critically damped);
- output:     x_i = r_i (1 + cos θ_i); body joint setpoint φ_k = x_{L,k} − x_{R,k};
- drive d → (ν, R) with saturation: body ν = 0.2 d + 0.3 Hz, R = 0.065 d + 0.196 on
  1 ≤ d ≤ 5; limb ν = 0.2 d Hz, R = 0.131 d + 0.131 on 1 ≤ d ≤ 3; ν = R = 0 outside.

Oscillator order: body left 0..7 (head to tail), body right 8..15, then the limbs
LF, RF, LH, RH (16..19). Integration is forward Euler at ``dt`` (0.01 s in the paper).
The Euler steps and the motor map are compiled loops (numba): at 20 oscillators, numpy's
per-call overhead would cost more than the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from stateful_rl.envs.salamander.checks import check_float

N_SEGMENTS = 8
N_BODY = 2 * N_SEGMENTS
N_LIMBS = 4
N_OSCILLATORS = N_BODY + N_LIMBS
LIMB_NAMES = ("LF", "RF", "LH", "RH")
LIMB_IS_LEFT = np.array([True, False, True, False])
# The limb oscillators of each limb project to the body oscillators of their girdle half.
_LIMB_TARGETS = {
    16: range(0, N_SEGMENTS // 2),
    17: range(N_SEGMENTS, N_SEGMENTS + N_SEGMENTS // 2),
    18: range(N_SEGMENTS // 2, N_SEGMENTS),
    19: range(N_SEGMENTS + N_SEGMENTS // 2, N_BODY),
}


@dataclass(frozen=True)
class DriveMap:
    """Linear drive → (frequency in Hz, amplitude in rad) map with saturation.

    ``ν = nu_gain d + nu_offset`` and ``R = r_gain d + r_offset`` for
    ``d_low ≤ d ≤ d_high``; ``ν = R = 0`` outside (the oscillator is silent).
    """

    d_low: float
    d_high: float
    nu_gain: float
    nu_offset: float
    r_gain: float
    r_offset: float

    def __call__(self, drive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(ν, R)`` with the shape of ``drive``."""
        active = (drive >= self.d_low) & (drive <= self.d_high)
        nu = np.where(active, self.nu_gain * drive + self.nu_offset, 0.0)
        amplitude = np.where(active, self.r_gain * drive + self.r_offset, 0.0)
        return nu, amplitude


# Ijspeert et al. 2007, supplementary Table S1.
BODY_DRIVE = DriveMap(
    d_low=1.0, d_high=5.0, nu_gain=0.2, nu_offset=0.3, r_gain=0.065, r_offset=0.196
)
LIMB_DRIVE = DriveMap(
    d_low=1.0, d_high=3.0, nu_gain=0.2, nu_offset=0.0, r_gain=0.131, r_offset=0.131
)


def coupling_matrices(
    body_weight: float = 10.0,
    limb_to_body_weight: float = 30.0,
    limb_weight: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``w[i, j]`` (oscillator j acting on i) and phase biases ``φ[i, j]``, shape [20, 20].

    Body: rostral and caudal neighbours (w = body_weight, φ = ∓2π/8, so each segment lags
    the one ahead of it by 2π/8: one wave per body length) and left-right pairs (φ = π).
    Limbs: left-right and fore-hind in antiphase (φ = π), so diagonal limbs end in phase
    (trot). Limb → body: w = limb_to_body_weight, φ = π (a limb's own-side girdle half is
    relaxed while the limb is protracted), no body → limb coupling.
    """
    weights = np.zeros((N_OSCILLATORS, N_OSCILLATORS))
    bias = np.zeros((N_OSCILLATORS, N_OSCILLATORS))
    lag = 2.0 * np.pi / N_SEGMENTS
    for side in (0, N_SEGMENTS):
        for k in range(N_SEGMENTS - 1):
            i, j = side + k, side + k + 1  # i is rostral to j
            weights[i, j] = weights[j, i] = body_weight
            bias[j, i] = lag  # θ_i − θ_j = lag at the fixed point
            bias[i, j] = -lag
    for k in range(N_SEGMENTS):
        left, right = k, N_SEGMENTS + k
        weights[left, right] = weights[right, left] = body_weight
        bias[left, right] = bias[right, left] = np.pi
    lf, rf, lh, rh = range(N_BODY, N_OSCILLATORS)
    for i, j in ((lf, rf), (lh, rh), (lf, lh), (rf, rh)):
        weights[i, j] = weights[j, i] = limb_weight
        bias[i, j] = bias[j, i] = np.pi
    for limb, targets in _LIMB_TARGETS.items():
        for i in targets:
            weights[i, limb] = limb_to_body_weight
            bias[i, limb] = np.pi
    return weights, bias


def _drive_table() -> tuple[np.ndarray, np.ndarray]:
    """Per oscillator, the drive map as rows (ν gain, ν offset, R gain, R offset, d_low,
    d_high), shape [6, 20], and the side whose drive it reads (0 left, 1 right), shape [20]."""
    side = np.ones(N_OSCILLATORS, dtype=np.int64)
    side[:N_SEGMENTS] = 0
    side[N_BODY:] = np.where(LIMB_IS_LEFT, 0, 1)
    maps = [BODY_DRIVE] * N_BODY + [LIMB_DRIVE] * N_LIMBS
    table = np.array(
        [(m.nu_gain, m.nu_offset, m.r_gain, m.r_offset, m.d_low, m.d_high) for m in maps]
    )
    return table.T.copy(), side


@numba.njit(cache=True, nogil=True)
def _drive_map(
    drives: np.ndarray, table: np.ndarray, side: np.ndarray, nu: np.ndarray, amplitude: np.ndarray
) -> None:
    """``DriveMap`` for every oscillator: drives [n, 2] (left, right) → ``nu``, ``amplitude``
    [n, 20] (Hz, rad), zero outside each map's [d_low, d_high]."""
    for b in range(drives.shape[0]):
        for i in range(side.size):
            d = drives[b, side[i]]
            active = table[4, i] <= d <= table[5, i]
            nu[b, i] = table[0, i] * d + table[1, i] if active else 0.0
            amplitude[b, i] = table[2, i] * d + table[3, i] if active else 0.0


@numba.njit(cache=True, nogil=True)
def _euler_steps(
    theta: np.ndarray,
    r: np.ndarray,
    dr: np.ndarray,
    nu: np.ndarray,
    amplitude: np.ndarray,
    edges: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    dt: float,
    convergence: float,
    theta_out: np.ndarray,
    r_out: np.ndarray,
) -> None:
    """``len(theta_out)`` forward-Euler steps of the phase and amplitude equations (module
    docstring) in place on ``theta``, ``r``, ``dr`` [n, 20]; the state after each step goes
    to ``theta_out`` and ``r_out`` [steps, n, 20]. Edge e couples oscillator ``edges[e, 1]``
    into ``edges[e, 0]`` with ``weight[e]`` and phase bias ``bias[e]``."""
    coupling = np.empty(theta.shape[1])
    gain = 0.25 * convergence
    for k in range(theta_out.shape[0]):
        for b in range(theta.shape[0]):
            coupling[:] = 0.0
            for e in range(edges.shape[0]):
                i, j = edges[e, 0], edges[e, 1]
                coupling[i] += weight[e] * r[b, j] * np.sin(theta[b, j] - theta[b, i] - bias[e])
            for i in range(theta.shape[1]):
                theta[b, i] += dt * (2.0 * np.pi * nu[b, i] + coupling[i])
                r_old = r[b, i]
                r[b, i] = r_old + dt * dr[b, i]
                dr[b, i] += dt * convergence * (gain * (amplitude[b, i] - r_old) - dr[b, i])
                theta_out[k, b, i], r_out[k, b, i] = theta[b, i], r[b, i]


class SalamanderCPG:
    """A batch of ``n`` independent Ijspeert salamander CPGs.

    State: phases ``theta`` [n, 20] (rad), amplitudes ``r`` [n, 20] (rad) and their rates
    ``dr`` [n, 20] (rad/s). Drives are given per side, ``[n]`` arrays or scalars: the left
    drive feeds the left body oscillators and the left limbs, the right one the others.
    A larger left than right drive bends the body to the left (anticlockwise seen from
    above): a swimming animal turns left; a walking one turns right, its longer left
    strides winning over the bend (measured in tests/envs/test_salamander_physics).
    """

    def __init__(
        self,
        n: int = 1,
        dt: float = 0.01,
        convergence: float = 20.0,
        body_weight: float = 10.0,
        limb_to_body_weight: float = 30.0,
        limb_weight: float = 10.0,
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not dt > 0.0:
            raise ValueError(f"dt must be > 0 s, got {dt}")
        if not convergence > 0.0:
            raise ValueError(f"convergence (a) must be > 0, got {convergence}")
        self.n = n
        self.dt = dt
        self.convergence = convergence
        self.weights, self.bias = coupling_matrices(body_weight, limb_to_body_weight, limb_weight)
        # Sparse form of the network: edge e carries oscillator source into target.
        target, source = np.nonzero(self.weights)
        self._edges = np.stack([target, source], axis=1).astype(np.int64)
        self._edge_weight = self.weights[target, source]
        self._edge_bias = self.bias[target, source]
        self._drive_table, self._drive_side = _drive_table()
        self.theta = np.zeros((n, N_OSCILLATORS))
        self.r = np.zeros((n, N_OSCILLATORS))
        self.dr = np.zeros((n, N_OSCILLATORS))
        self.nu = np.zeros((n, N_OSCILLATORS))
        self.amplitude = np.zeros((n, N_OSCILLATORS))
        self._drives = np.zeros((n, 2))

    def reset(self, rng: np.random.Generator | None = None, index: int | None = None) -> None:
        """Zero amplitudes; phases uniform in [0, 2π) from ``rng`` (all zero without one).
        All animals, or only animal ``index`` (20 draws from ``rng``)."""
        rows = slice(None) if index is None else index
        shape = self.theta[rows].shape
        self.theta[rows] = 0.0 if rng is None else rng.uniform(0.0, 2.0 * np.pi, shape)
        self.r[rows] = 0.0
        self.dr[rows] = 0.0

    def set_drive(self, drive_left, drive_right) -> None:
        """Set the drives (scalars or [n] arrays); they hold until the next call.

        Stores the intrinsic frequencies ``nu`` [n, 20] (Hz) and target amplitudes
        ``amplitude`` [n, 20] (rad) that the drives map to.
        """
        drives = self._drives
        drives[:, 0], drives[:, 1] = drive_left, drive_right
        if not np.isfinite(drives).all():
            raise ValueError(f"drives must be finite, got {drive_left!r}, {drive_right!r}")
        _drive_map(drives, self._drive_table, self._drive_side, self.nu, self.amplitude)

    def step(self) -> None:
        """Advance every animal by one forward-Euler step of ``dt`` seconds."""
        self.advance(1)

    def advance(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """``steps`` Euler steps; the phases and amplitudes after each, both [steps, n, 20]."""
        theta = np.empty((steps, self.n, N_OSCILLATORS))
        r = np.empty((steps, self.n, N_OSCILLATORS))
        _euler_steps(
            self.theta,
            self.r,
            self.dr,
            self.nu,
            self.amplitude,
            self._edges,
            self._edge_weight,
            self._edge_bias,
            self.dt,
            self.convergence,
            theta,
            r,
        )
        return theta, r

    @property
    def output(self) -> np.ndarray:
        """Oscillator outputs ``x = r (1 + cos θ)``, shape [n, 20]."""
        return self.r * (1.0 + np.cos(self.theta))

    def body_setpoints(self) -> np.ndarray:
        """Body joint setpoints ``x_L − x_R`` per segment, head to tail, shape [n, 8] (rad)."""
        x = self.output
        return x[:, :N_SEGMENTS] - x[:, N_SEGMENTS:N_BODY]


@numba.njit(cache=True, nogil=True)
def _motor_map(theta: np.ndarray, r: np.ndarray, params: np.ndarray, targets: np.ndarray) -> None:
    """``MotorMap`` on rows of phases and amplitudes [m, 20] into ``targets`` [m, 20];
    ``params`` = (body_gain, swing, lift, fold, silent_amplitude)."""
    body_gain, swing, lift, fold, silent = params[0], params[1], params[2], params[3], params[4]
    for b in range(theta.shape[0]):
        for k in range(N_SEGMENTS):
            left = r[b, k] * (1.0 + np.cos(theta[b, k]))
            right = r[b, N_SEGMENTS + k] * (1.0 + np.cos(theta[b, N_SEGMENTS + k]))
            targets[b, k] = body_gain * (left - right)
        for leg in range(N_LIMBS):
            i, out = N_BODY + leg, N_SEGMENTS + 3 * leg
            g = min(r[b, i], silent) / silent  # r >= 0
            targets[b, out] = g * swing * np.cos(theta[b, i]) - (1.0 - g) * fold
            targets[b, out + 1] = g * lift * max(0.0, -np.sin(theta[b, i]))
            targets[b, out + 2] = 0.0


class MotorMap:
    """CPG output → joint position targets (rad) for the 8 body and 4 × 3 limb joints.

    Body: ``q_k = body_gain (x_{L,k} − x_{R,k})``. Limbs (3 joints each: hip yaw, positive
    = protraction; hip lift, positive = foot up; knee, positive = foot outward, held at 0),
    from the limb phase θ and the limb activity ``g = min(r / silent_amplitude, 1)``:
    ``yaw = g swing cos θ − (1 − g) fold`` (silent limbs fold back along the body, the
    swimming posture), ``lift = g lift max(0, −sin θ)`` (the foot is lifted while the limb
    protracts and is down while it retracts: stance pushes the animal forward).
    """

    def __init__(
        self,
        body_gain: float = 0.5,
        swing: float = 0.7,
        lift: float = 0.6,
        fold: float = 1.2,
        silent_amplitude: float = LIMB_DRIVE.r_gain * LIMB_DRIVE.d_low + LIMB_DRIVE.r_offset,
    ) -> None:
        # Angles in rad; the gain maps oscillator outputs (rad) to spine angles (rad).
        self.body_gain = check_float("body_gain", body_gain, 0.0, 10.0)
        self.swing = check_float("swing", swing, 0.0, np.pi)
        self.lift = check_float("lift", lift, 0.0, np.pi)
        self.fold = check_float("fold", fold, -np.pi, np.pi)
        self.silent_amplitude = check_float(
            "silent_amplitude", silent_amplitude, 0.0, 10.0, open_low=True
        )
        self._params = np.array(
            [self.body_gain, self.swing, self.lift, self.fold, self.silent_amplitude]
        )

    def __call__(self, theta: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Joint targets [..., 20] (8 body joints head to tail, then per limb yaw, lift, knee)
        from oscillator phases and amplitudes [..., 20], e.g. ``SalamanderCPG.advance``'s."""
        rows = (-1, N_OSCILLATORS)
        theta_rows = np.ascontiguousarray(theta, dtype=float).reshape(rows)
        r_rows = np.ascontiguousarray(r, dtype=float).reshape(rows)
        targets = np.empty((len(theta_rows), N_SEGMENTS + 3 * N_LIMBS))
        _motor_map(theta_rows, r_rows, self._params, targets)
        return targets.reshape(*np.shape(theta)[:-1], targets.shape[1])
