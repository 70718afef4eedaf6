"""Ijspeert's salamander central pattern generator, batched over animals (pure numpy).

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


class SalamanderCPG:
    """A batch of ``n`` independent Ijspeert salamander CPGs.

    State: phases ``theta`` [n, 20] (rad), amplitudes ``r`` [n, 20] (rad) and their rates
    ``dr`` [n, 20] (rad/s). Drives are given per side, ``[n]`` arrays or scalars: the left
    drive feeds the left body oscillators and the left limbs, the right one the others.
    A larger left than right drive bends the body to the left (anticlockwise seen from
    above), which turns the animal left.
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
        # Sparse form of the network: edge e carries oscillator source[e] into target[e].
        # Phase differences, weighted source amplitudes and the sum back onto targets are
        # then three small matrix products (few numpy calls: per-call overhead dominates).
        target, source = np.nonzero(self.weights)
        edges = np.arange(target.size)
        self._difference = np.zeros((N_OSCILLATORS, target.size))
        self._difference[source, edges] += 1.0
        self._difference[target, edges] -= 1.0
        self._edge_bias = self.bias[target, source]
        self._weighted_source = np.zeros((N_OSCILLATORS, target.size))
        self._weighted_source[source, edges] = self.weights[target, source]
        self._gather_dt = np.zeros((target.size, N_OSCILLATORS))
        self._gather_dt[edges, target] = dt
        # The amplitude ODE is linear: [r, dr] ← [r, dr] M + [0, dt a²/4 R] (forward Euler).
        a, eye = convergence, np.eye(N_OSCILLATORS)
        self._amplitude_step = np.block(
            [[eye, -dt * a * a / 4 * eye], [dt * eye, (1.0 - dt * a) * eye]]
        )
        # Drive maps as arrays over (body ν, body R, limb ν, limb R), and the matrix that
        # scatters each side's values to its oscillators as [ν, R, 2π dt ν, dt a²/4 R].
        maps = (BODY_DRIVE, BODY_DRIVE, LIMB_DRIVE, LIMB_DRIVE)
        self._map_gain = np.array(
            [m.nu_gain if k % 2 == 0 else m.r_gain for k, m in enumerate(maps)]
        )[:, None]
        self._map_offset = np.array(
            [m.nu_offset if k % 2 == 0 else m.r_offset for k, m in enumerate(maps)]
        )[:, None]
        self._map_low = np.array([m.d_low for m in maps])[:, None]
        self._map_high = np.array([m.d_high for m in maps])[:, None]
        left = np.zeros(N_OSCILLATORS, dtype=bool)
        left[:N_SEGMENTS] = True
        left[N_BODY:] = LIMB_IS_LEFT
        is_body = np.arange(N_OSCILLATORS) < N_BODY
        self._scatter = np.zeros((4, 2, 4, N_OSCILLATORS))
        scale = (1.0, 1.0, 2.0 * np.pi * dt, dt * convergence**2 / 4)
        for quantity in range(4):  # (ν, R, 2π dt ν, dt a²/4 R), read from ν or R
            for group, oscillators in ((0, is_body), (2, ~is_body)):
                for side, on_side in ((0, left), (1, ~left)):
                    row = group + quantity % 2
                    self._scatter[row, side, quantity, oscillators & on_side] = scale[quantity]
        self._scatter = self._scatter.reshape(8, 4 * N_OSCILLATORS)
        self.theta = np.zeros((n, N_OSCILLATORS))
        self._amplitude_state = np.zeros((n, 2 * N_OSCILLATORS))
        self._scratch = np.zeros((n, 2 * N_OSCILLATORS))
        self.r = self._amplitude_state[:, :N_OSCILLATORS]  # views into the state
        self.dr = self._amplitude_state[:, N_OSCILLATORS:]
        self.nu = np.zeros((n, N_OSCILLATORS))
        self.amplitude = np.zeros((n, N_OSCILLATORS))
        self._phase_increment = np.zeros((n, N_OSCILLATORS))
        self._amplitude_input = np.zeros((n, 2 * N_OSCILLATORS))

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Zero amplitudes; phases uniform in [0, 2π) from ``rng`` (all zero without one)."""
        self.theta[:] = 0.0 if rng is None else rng.uniform(0.0, 2.0 * np.pi, self.theta.shape)
        self._amplitude_state[:] = 0.0

    def set_drive(self, drive_left, drive_right) -> None:
        """Set the drives (scalars or [n] arrays); they hold until the next call.

        Stores the intrinsic frequencies ``nu`` [n, 20] (Hz) and target amplitudes
        ``amplitude`` [n, 20] (rad) that the drives map to.
        """
        drives = np.empty((self.n, 1, 2))
        drives[:, 0, 0], drives[:, 0, 1] = drive_left, drive_right
        if not np.isfinite(drives).all():
            raise ValueError(f"drives must be finite, got {drive_left!r}, {drive_right!r}")
        # [n, 4, 2]: (body ν, body R, limb ν, limb R) of the (left, right) drive, saturated.
        values = self._map_gain * drives + self._map_offset
        values *= (drives >= self._map_low) & (drives <= self._map_high)
        per_oscillator = values.reshape(self.n, 8) @ self._scatter
        n = N_OSCILLATORS
        self.nu, self.amplitude = per_oscillator[:, :n], per_oscillator[:, n : 2 * n]
        self._phase_increment = per_oscillator[:, 2 * n : 3 * n]
        self._amplitude_input[:, n:] = per_oscillator[:, 3 * n :]

    def step(self) -> None:
        """Advance every animal by one forward-Euler step of ``dt`` seconds."""
        phase = self.theta @ self._difference
        phase -= self._edge_bias
        np.sin(phase, out=phase)
        phase *= self.r @ self._weighted_source
        self.theta += phase @ self._gather_dt
        self.theta += self._phase_increment
        np.matmul(self._amplitude_state, self._amplitude_step, out=self._scratch)
        np.add(self._scratch, self._amplitude_input, out=self._amplitude_state)

    @property
    def output(self) -> np.ndarray:
        """Oscillator outputs ``x = r (1 + cos θ)``, shape [n, 20]."""
        return self.r * (1.0 + np.cos(self.theta))

    def body_setpoints(self) -> np.ndarray:
        """Body joint setpoints ``x_L − x_R`` per segment, head to tail, shape [n, 8] (rad)."""
        x = self.output
        return x[:, :N_SEGMENTS] - x[:, N_SEGMENTS:N_BODY]


class MotorMap:
    """CPG output → joint position targets (rad) for the 8 body and 4 × 3 limb joints.

    Body: ``q_k = body_gain (x_{L,k} − x_{R,k})``. Limbs (3 joints each: hip yaw, positive
    = protraction; hip lift, positive = foot up; knee, positive = foot outward, held at 0),
    from the limb phase θ and the limb activity ``g = min(r / silent_amplitude, 1)``:
    ``yaw = g swing cos θ − (1 − g) fold`` (silent limbs fold back along the body, the
    swimming posture), ``lift = g lift max(0, −sin θ)`` (the foot is lifted while the limb
    protracts and is down while it retracts: stance pushes the animal forward).
    Evaluated as one matrix product over the features ``[x, g cos θ, g min(sin θ, 0), g]``
    of all 20 oscillators (few numpy calls: per-call overhead dominates at this size).
    """

    def __init__(
        self,
        body_gain: float = 0.5,
        swing: float = 0.7,
        lift: float = 0.6,
        fold: float = 1.2,
        silent_amplitude: float = LIMB_DRIVE.r_gain * LIMB_DRIVE.d_low + LIMB_DRIVE.r_offset,
    ) -> None:
        if silent_amplitude <= 0:
            raise ValueError(f"silent_amplitude must be > 0 rad, got {silent_amplitude}")
        self.body_gain, self.swing, self.lift, self.fold = body_gain, swing, lift, fold
        self.silent_amplitude = silent_amplitude
        n_out = N_SEGMENTS + 3 * N_LIMBS
        weights = np.zeros((4, N_OSCILLATORS, n_out))
        for k in range(N_SEGMENTS):
            weights[0, k, k] = body_gain
            weights[0, N_SEGMENTS + k, k] = -body_gain
        for leg in range(N_LIMBS):
            oscillator, yaw = N_BODY + leg, N_SEGMENTS + 3 * leg
            weights[1, oscillator, yaw] = swing / silent_amplitude
            weights[2, oscillator, yaw + 1] = -lift / silent_amplitude
            weights[3, oscillator, yaw] = fold / silent_amplitude
        self._weights = weights.reshape(4 * N_OSCILLATORS, n_out)
        self._offset = np.zeros(n_out)
        self._offset[N_SEGMENTS::3] = -fold

    def __call__(self, cpg: SalamanderCPG) -> np.ndarray:
        """Joint targets [n, 20]: 8 body joints (head to tail), then per limb yaw, lift, knee."""
        n = N_OSCILLATORS
        features = np.empty((cpg.n, 4 * n))
        x, g_cos, g_sin, g = (features[:, k * n : (k + 1) * n] for k in range(4))
        np.cos(cpg.theta, out=g_cos)
        np.multiply(cpg.r, g_cos, out=x)
        x += cpg.r
        np.minimum(cpg.r, self.silent_amplitude, out=g)  # r >= 0: g = min(r / silent, 1)
        g_cos *= g
        np.sin(cpg.theta, out=g_sin)
        np.minimum(g_sin, 0.0, out=g_sin)
        g_sin *= g
        targets = features @ self._weights
        targets += self._offset
        return targets
