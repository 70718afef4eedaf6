"""Fidelity of the Ijspeert 2007 CPG and its motor map alone (no MuJoCo)."""

from __future__ import annotations

import numpy as np
import pytest

from stateful_rl.envs.salamander.cpg import (
    BODY_DRIVE,
    LIMB_DRIVE,
    N_BODY,
    N_SEGMENTS,
    MotorMap,
    SalamanderCPG,
)

SETTLE_S, MEASURE_S = 20.0, 20.0
LF, RF, LH, RH = range(N_BODY, N_BODY + 4)


def wrap(angle: np.ndarray) -> np.ndarray:
    """Angle in (−π, π]."""
    return np.angle(np.exp(1j * angle))


def settled(drives, seed: int = 0, **kwargs) -> tuple[SalamanderCPG, np.ndarray]:
    """A batch of CPGs (one per drive) after SETTLE_S, and their mean frequencies [n, 20] (Hz)."""
    drives = np.asarray(drives, dtype=float)
    cpg = SalamanderCPG(n=drives.size, **kwargs)
    cpg.reset(np.random.default_rng(seed))
    cpg.set_drive(drives, drives)
    for _ in range(round(SETTLE_S / cpg.dt)):
        cpg.step()
    start = cpg.theta.copy()
    for _ in range(round(MEASURE_S / cpg.dt)):
        cpg.step()
    return cpg, (cpg.theta - start) / (2 * np.pi * MEASURE_S)


def test_body_frequency_follows_drive_without_limbs():
    drives = np.arange(1.0, 5.01, 0.5)
    _, freq = settled(drives, limb_to_body_weight=0.0)
    expected, _ = BODY_DRIVE(drives)
    np.testing.assert_allclose(freq[:, :N_BODY], expected[:, None] * np.ones(N_BODY), rtol=0.02)


def test_full_network_frequencies():
    """Limbs follow ν_limb(d) on d ∈ [1, 3] and entrain the body (Ijspeert's walking gait);
    above d = 3 the limbs stop and the body oscillates at its own ν_body(d)."""
    walk = np.array([1.0, 1.5, 2.0, 2.5, 3.0])
    _, freq = settled(walk)
    nu_limb, _ = LIMB_DRIVE(walk)
    np.testing.assert_allclose(freq, nu_limb[:, None] * np.ones(freq.shape[1]), rtol=0.02)
    swim = np.array([3.5, 4.0, 4.5, 5.0])
    _, freq = settled(swim)
    nu_body, _ = BODY_DRIVE(swim)
    np.testing.assert_allclose(freq[:, :N_BODY], nu_body[:, None] * np.ones(N_BODY), rtol=0.02)


def test_swimming_travelling_wave_and_antiphase():
    cpg, _ = settled([3.5, 4.0, 5.0])
    theta = cpg.theta
    for side in (0, N_SEGMENTS):
        lag = wrap(theta[:, side : side + N_SEGMENTS - 1] - theta[:, side + 1 : side + N_SEGMENTS])
        np.testing.assert_allclose(lag, 2 * np.pi / N_SEGMENTS, rtol=0.05)
    left_right = wrap(theta[:, :N_SEGMENTS] - theta[:, N_SEGMENTS:N_BODY])
    np.testing.assert_allclose(np.abs(left_right), np.pi, atol=0.05 * np.pi)


def test_limbs_silent_above_drive_three():
    cpg, _ = settled([3.2, 4.0, 5.0])
    assert np.abs(cpg.output[:, N_BODY:]).max() < 1e-3
    assert cpg.r[:, :N_BODY].min() > 0.4  # while the body oscillates


def test_walking_diagonal_limbs_in_phase_and_others_in_antiphase():
    cpg, _ = settled([1.5, 2.0, 2.5])
    theta = cpg.theta
    np.testing.assert_allclose(wrap(theta[:, LF] - theta[:, RH]), 0.0, atol=0.05)
    np.testing.assert_allclose(wrap(theta[:, RF] - theta[:, LH]), 0.0, atol=0.05)
    np.testing.assert_allclose(np.abs(wrap(theta[:, LF] - theta[:, RF])), np.pi, atol=0.05)
    np.testing.assert_allclose(np.abs(wrap(theta[:, LF] - theta[:, LH])), np.pi, atol=0.05)


def test_amplitudes_saturate_with_drive():
    cpg, _ = settled([0.5, 2.0, 4.0, 5.5])
    _, r_body = BODY_DRIVE(np.array([0.5, 2.0, 4.0, 5.5]))
    np.testing.assert_allclose(cpg.r[:, 0], r_body, atol=1e-6)
    np.testing.assert_allclose(cpg.r[[0, 3]], 0.0, atol=1e-9)  # silent outside [1, 5]


def test_drive_asymmetry_gives_larger_left_amplitude_and_bends_left():
    cpg = SalamanderCPG(n=1)
    cpg.reset(np.random.default_rng(1))
    cpg.set_drive(4.5, 3.5)
    setpoints = []
    for _ in range(3000):
        cpg.step()
        setpoints.append(cpg.body_setpoints()[0])
    mean = np.mean(setpoints[1000:], axis=0)
    assert cpg.r[0, 0] > cpg.r[0, N_SEGMENTS]
    assert np.all(mean > 0.05)  # positive spine angle: concave on the left


def test_batch_matches_single_animals():
    drives = np.array([2.0, 4.0])
    batch = SalamanderCPG(n=2)
    batch.reset(np.random.default_rng(3))
    singles = [SalamanderCPG(n=1) for _ in drives]
    for k, single in enumerate(singles):
        single.theta[:] = batch.theta[k]
        single.set_drive(drives[k], drives[k])
    batch.set_drive(drives, drives)
    for _ in range(500):
        batch.step()
        for single in singles:
            single.step()
    for k, single in enumerate(singles):
        np.testing.assert_allclose(batch.theta[k], single.theta[0], atol=1e-10)


def test_motor_map_shapes_and_swimming_posture():
    cpg, _ = settled([2.0, 4.0])
    targets = MotorMap()(cpg.theta, cpg.r)
    assert targets.shape == (2, 20)
    limbs = targets[:, N_SEGMENTS:].reshape(2, 4, 3)
    np.testing.assert_allclose(limbs[1, :, 0], -MotorMap().fold, atol=1e-3)  # folded back
    assert np.ptp(limbs[0, :, 0]) > 0.1  # walking limbs swing


def test_euler_step_follows_the_equations():
    cpg = SalamanderCPG(n=2)
    rng = np.random.default_rng(1)
    cpg.theta[:] = rng.uniform(0, 2 * np.pi, cpg.theta.shape)
    cpg.r[:], cpg.dr[:] = rng.uniform(0, 0.5, cpg.r.shape), rng.normal(size=cpg.dr.shape)
    cpg.set_drive(np.array([2.0, 4.0]), np.array([2.5, 3.5]))
    theta, r, dr = cpg.theta.copy(), cpg.r.copy(), cpg.dr.copy()
    theta_out, r_out = cpg.advance(1)
    difference = theta[:, None, :] - theta[:, :, None] - cpg.bias  # [n, i, j]: θ_j − θ_i − φ_ij
    coupling = np.sum(r[:, None, :] * cpg.weights * np.sin(difference), axis=2)
    a, dt = cpg.convergence, cpg.dt
    np.testing.assert_allclose(cpg.theta, theta + dt * (2 * np.pi * cpg.nu + coupling), atol=1e-12)
    np.testing.assert_allclose(cpg.r, r + dt * dr, atol=1e-15)
    np.testing.assert_allclose(cpg.dr, dr + dt * a * (a / 4 * (cpg.amplitude - r) - dr), atol=1e-12)
    np.testing.assert_array_equal(theta_out[0], cpg.theta)
    np.testing.assert_array_equal(r_out[0], cpg.r)


def test_motor_map_follows_the_formulas():
    rng = np.random.default_rng(2)
    theta, r = rng.uniform(0, 2 * np.pi, (3, 5, 20)), rng.uniform(0, 0.6, (3, 5, 20))
    motor = MotorMap()
    targets = motor(theta, r)
    x = r * (1 + np.cos(theta))
    body = motor.body_gain * (x[..., :N_SEGMENTS] - x[..., N_SEGMENTS:N_BODY])
    g = np.minimum(r[..., N_BODY:] / motor.silent_amplitude, 1.0)
    limb = theta[..., N_BODY:]
    yaw = g * motor.swing * np.cos(limb) - (1 - g) * motor.fold
    lift = g * motor.lift * np.maximum(0.0, -np.sin(limb))
    legs = np.stack([yaw, lift, np.zeros_like(yaw)], axis=-1).reshape(3, 5, 12)
    assert targets.shape == (3, 5, 20)
    np.testing.assert_allclose(targets, np.concatenate([body, legs], axis=-1), atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n": 0}, "n must"), ({"dt": 0.0}, "dt must"), ({"convergence": -1.0}, "convergence")],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SalamanderCPG(**kwargs)


def test_non_finite_drive_raises():
    with pytest.raises(ValueError, match="finite"):
        SalamanderCPG().set_drive(np.nan, 1.0)
