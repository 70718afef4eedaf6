"""The connectionist salamander CPG (Ijspeert 2001 model): equations, batching, the fitted
network's gaits, the fit's objective and the dynamical-systems view."""

from __future__ import annotations

import numpy as np
import pytest

from stateful_rl.envs.salamander import neural_cpg_targets as targets
from stateful_rl.envs.salamander.cpg import BODY_DRIVE
from stateful_rl.envs.salamander.neural_cpg import (
    BODY_MOTOR,
    LIMB_EXCITATORY,
    LIMB_MOTOR,
    N_NEURONS,
    PARAMETERS,
    SILENT_RATE,
    NeuralMotorMap,
    NeuralSalamanderCPG,
    build_network,
    check_parameters,
    eigenvalues,
    fixed_point,
    from_unit,
    jacobian,
    load_fitted,
    rates,
    to_unit,
    vector_field,
)

FITTED = load_fitted()["parameters"]


def test_exponential_euler_substep_follows_the_equations():
    cpg = NeuralSalamanderCPG(n=2, substeps=1)
    rng = np.random.default_rng(0)
    for state in (cpg.xi_exc, cpg.xi_inh, cpg.theta):
        state[:] = rng.uniform(0.0, 0.6, state.shape)
    cpg.set_drive(np.array([4.0, 2.0]), np.array([3.0, 2.5]))
    net = cpg.network
    xi_exc, xi_inh, theta = cpg.xi_exc.copy(), cpg.xi_inh.copy(), cpg.theta.copy()
    u = np.maximum(
        1 - np.exp((net.threshold - xi_exc) * net.gain) - xi_inh - net.adaptation * theta, 0
    )
    w_exc, w_inh = net.dense_weights()
    drive = cpg.drives[:, net.drive_side]
    sum_exc = u @ w_exc.T + net.drive_excitatory * drive
    sum_inh = u @ w_inh.T + net.drive_inhibitory * drive
    decay_d, decay_a = np.exp(-cpg.dt / net.tau_d), np.exp(-cpg.dt / net.tau_a)
    u_out, theta_out = cpg.advance(1)
    np.testing.assert_allclose(cpg.xi_exc, sum_exc + (xi_exc - sum_exc) * decay_d, atol=1e-12)
    np.testing.assert_allclose(cpg.xi_inh, sum_inh + (xi_inh - sum_inh) * decay_d, atol=1e-12)
    np.testing.assert_allclose(cpg.theta, u + (theta - u) * decay_a, atol=1e-12)
    np.testing.assert_allclose(u_out[0], rates(net, cpg.xi_exc, cpg.xi_inh, cpg.theta), atol=0)
    np.testing.assert_array_equal(theta_out[0], cpg.theta)


def test_batch_matches_single_animals():
    drives = np.array([2.0, 4.0])
    batch = NeuralSalamanderCPG(n=2)
    batch.reset(np.random.default_rng(3))
    singles = [NeuralSalamanderCPG(n=1) for _ in drives]
    for k, single in enumerate(singles):
        single.xi_exc[:] = batch.xi_exc[k]
        single.set_drive(drives[k], drives[k])
    batch.set_drive(drives, drives)
    batch.advance(300)
    for k, single in enumerate(singles):
        single.advance(300)
        np.testing.assert_allclose(batch.xi_exc[k], single.xi_exc[0], atol=1e-12)


def test_finer_integration_steps_keep_the_rhythm():
    """The default 5 ms step against 1.25 ms: the same gaits, frequencies within 5%."""
    drives = np.array([[2.0, 2.0], [4.0, 4.0]])
    frequencies = []
    for substeps in (2, 8):
        cpg = NeuralSalamanderCPG(n=2, substeps=substeps)
        cpg.reset(np.random.default_rng(0))
        cpg.set_drive(drives[:, 0], drives[:, 1])
        cpg.advance(500)
        u, _ = cpg.advance(1000)
        frequencies.append(targets.gait_measures(u)["body_frequency"])
    np.testing.assert_allclose(frequencies[0], frequencies[1], rtol=0.05)


def test_network_wiring_signs_and_symmetry():
    net = build_network(FITTED)
    w_exc, w_inh = net.dense_weights()
    assert (w_exc >= 0).all() and (w_inh >= 0).all()
    sources = np.flatnonzero(w_inh.any(axis=0))
    assert set(sources) <= set(range(16, 32)) | set(range(56, 64))  # only C neurons inhibit
    mirror = np.arange(N_NEURONS)  # left <-> right, LF <-> RF, LH <-> RH
    body = mirror < 48
    mirror[body] = (mirror[body] // 16) * 16 + (mirror[body] % 16 + 8) % 16
    limb = mirror[48:] - 48
    mirror[48:] = 48 + (limb // 8) * 8 + ((limb % 8) // 2 ^ 1) * 2 + limb % 2
    np.testing.assert_array_equal(w_exc[np.ix_(mirror, mirror)], w_exc)
    np.testing.assert_array_equal(w_inh[np.ix_(mirror, mirror)], w_inh)
    np.testing.assert_array_equal(net.drive_side[mirror], 1 - net.drive_side)


def test_unit_box_round_trip_and_parameter_checks():
    names = [p.name for p in PARAMETERS]
    x = to_unit(FITTED, names)
    assert ((x >= 0) & (x <= 1)).all()
    back = from_unit(x, names, {})
    np.testing.assert_allclose([back[n] for n in names], [FITTED[n] for n in names], rtol=1e-12)
    with pytest.raises(ValueError, match="missing"):
        check_parameters({})
    with pytest.raises(ValueError, match="body_E_gain must be in"):
        check_parameters({**FITTED, "body_E_gain": np.nan})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n": 0}, "n must"), ({"dt": 0.0}, "dt must"), ({"substeps": 0}, "substeps")],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NeuralSalamanderCPG(**kwargs)


def test_non_finite_drive_raises():
    with pytest.raises(ValueError, match="finite"):
        NeuralSalamanderCPG().set_drive(np.inf, 1.0)


def test_motor_map_follows_the_formulas():
    rng = np.random.default_rng(2)
    u, theta = rng.uniform(0, 1, (3, 5, N_NEURONS)), rng.uniform(0, 0.4, (3, 5, N_NEURONS))
    motor = NeuralMotorMap.fitted()
    targets_ = motor(u, theta)
    assert targets_.shape == (3, 5, 20)
    body = motor.body_gain * (u[..., BODY_MOTOR[0]] - u[..., BODY_MOTOR[1]])
    protractor, retractor = u[..., LIMB_MOTOR[0]], u[..., LIMB_MOTOR[1]]
    s = (protractor - retractor) / (protractor + retractor + SILENT_RATE) / motor.limb_scale
    g = np.minimum(
        (theta[..., LIMB_EXCITATORY[0]] + theta[..., LIMB_EXCITATORY[1]]) / motor.activity_scale, 1
    )
    yaw = g * motor.swing * s - (1 - g) * motor.fold
    lift = g * motor.lift * np.maximum(s, 0)
    legs = np.stack([yaw, lift, np.zeros_like(yaw)], axis=-1).reshape(3, 5, 12)
    np.testing.assert_allclose(targets_, np.concatenate([body, legs], axis=-1), atol=1e-12)
    assert motor.limb_floor == SILENT_RATE


@pytest.mark.parametrize(
    "name", ["body_gain", "limb_scale", "activity_scale", "swing", "lift", "fold", "limb_floor"]
)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, -4.0, 101.0])
def test_bad_motor_map_arguments_raise(name, value):
    arguments = {"body_gain": 1.0, "limb_scale": 1.0, "activity_scale": 1.0, name: value}
    with pytest.raises(ValueError, match=rf"{name} must be"):
        NeuralMotorMap(**arguments)


# -- the dynamical-systems view ---------------------------------------------------------------
def test_jacobian_matches_finite_differences():
    cpg = NeuralSalamanderCPG(n=2)  # states on the swimming and the walking cycle
    cpg.set_drive(np.array([4.0, 2.0]), np.array([4.0, 2.0]))
    cpg.advance(437)
    net = cpg.network
    for b in range(2):
        state = np.concatenate([cpg.xi_exc[b], cpg.xi_inh[b], cpg.theta[b]])
        assert (cpg.output[b] > 0).sum() > 20  # many neurons firing: few kinks to skip
        check_jacobian(net, state)


def check_jacobian(net, state: np.ndarray) -> None:
    jac = jacobian(net, state)
    eps = 1e-6
    columns = [
        (vector_field(net, state + eps * e, [4, 3]) - vector_field(net, state - eps * e, [4, 3]))
        / (2 * eps)
        for e in np.eye(state.size)
    ]
    np.testing.assert_allclose(jac, np.stack(columns, axis=1), atol=1e-5 * np.abs(jac).max())


def test_fixed_point_stability_at_rest_walking_and_swimming_drives():
    """Zero drive: a stable fixed point. Swimming: an unstable focus, its leading complex
    pair turning near the swimming frequency. Walking: a saddle (real unstable
    eigenvalues: mutual inhibition picks a side, adaptation hands over, a relaxation
    oscillation)."""
    net = build_network(FITTED)
    for d in (0.0, 2.0, 4.0):
        state = fixed_point(net, [d, d])
        assert np.abs(vector_field(net, state, [d, d])).max() < 1e-8
    assert eigenvalues(net, [0.0, 0.0]).real.max() < 0.0
    swim = eigenvalues(net, [4.0, 4.0])
    assert swim[0].real > 0.0 and np.isclose(swim[1], np.conj(swim[0]))
    assert 0.5 < abs(swim[0].imag) / (2 * np.pi) < 2.0  # Hz; the rhythm is 1.1 Hz
    walk = eigenvalues(net, [2.0, 2.0])
    assert walk[0].real > 0.0 and walk[0].imag == 0.0


# -- fidelity of the fitted network ------------------------------------------------------------
SWIM_DRIVES, WALK_DRIVES = (3.5, 4.0, 4.5, 5.0), (1.5, 2.0, 2.5)
TURN_DRIVES = ((4.5, 3.5), (3.5, 4.5), (2.5, 1.5), (1.5, 2.5))
BREAKS = {
    "no left-right inhibition": dict.fromkeys(("body_CE", "body_CC", "body_CM"), 0.0),
    "no intersegmental coupling": {
        p.name: 0.0 for p in PARAMETERS if p.name.startswith(("ascending", "descending"))
    },
    "no inter-limb inhibition": {"limb_left_right": 0.0, "limb_fore_hind": 0.0},
    "no limb-to-body projection": {
        p.name: 0.0 for p in PARAMETERS if p.name.startswith("limb_body")
    },
    "no motoneuron drive": {"body_drive_M": 0.0},
    "random parameters": from_unit(
        np.random.default_rng(0).uniform(size=len(PARAMETERS)),
        [p.name for p in PARAMETERS],
        {},
    ),
}


def gaits(parameters: dict[str, float]) -> dict[str, dict[str, np.ndarray]]:
    """Measures of the network at the swimming, walking and zero drives, and its mean body
    joint command (motoneuron difference) under the left/right drive pairs of TURN_DRIVES."""
    drives = [(d, d) for d in (*SWIM_DRIVES, *WALK_DRIVES, 0.0)] + list(TURN_DRIVES)
    u, _ = targets.simulate(parameters, np.array(drives))
    m = targets.gait_measures(u)
    n_swim, n_walk = len(SWIM_DRIVES), len(WALK_DRIVES)
    split = {
        "swim": slice(0, n_swim),
        "walk": slice(n_swim, n_swim + n_walk),
        "rest": slice(n_swim + n_walk, n_swim + n_walk + 1),
    }
    out = {name: {k: v[part] for k, v in m.items()} for name, part in split.items()}
    bend = u[:, -len(TURN_DRIVES) :, BODY_MOTOR[0]] - u[:, -len(TURN_DRIVES) :, BODY_MOTOR[1]]
    out["turn"] = {"mean_bend": bend.mean(axis=0)}
    return out


@pytest.fixture(scope="module")
def fitted() -> dict[str, dict[str, np.ndarray]]:
    return gaits(FITTED)


def check_swimming_frequency(m) -> None:
    f = m["swim"]["body_frequency"]
    assert np.all(np.diff(f) > 0.05), f  # rises with drive (Hz)
    np.testing.assert_allclose(f, 0.2 * np.array(SWIM_DRIVES) + 0.3, rtol=0.05)


def check_walking_frequency(m) -> None:
    f_limb, f_body = m["walk"]["limb_frequency"], m["walk"]["body_frequency"]
    d = np.array(WALK_DRIVES)
    assert np.all(np.diff(f_limb) > 0.05), f_limb  # rises with drive (Hz)
    assert np.all((f_limb > 0.2 * d) & (f_limb < 0.2 * d + 0.3)), f_limb  # 2007 limb, body
    np.testing.assert_allclose(f_body, f_limb, rtol=0.02)  # limbs entrain the body


def check_travelling_wave(m) -> None:
    lag = m["swim"]["segment_lag"]
    assert (lag > 0.6).all() and (lag < 0.95).all(), lag  # head leads; 2π/8 = 0.785 rad
    wavelengths = lag.sum(axis=1) * 8 / 7 / (2 * np.pi)  # 8 segments span the body
    np.testing.assert_allclose(wavelengths, 1.0, atol=0.15)


def check_antiphase(m) -> None:
    swim, walk = np.abs(m["swim"]["left_right"]), np.abs(m["walk"]["left_right"])
    assert (swim > 0.95 * np.pi).all(), swim
    # Walking: the node of the standing wave (segment 5) bends little, its sides overlap.
    assert (walk.mean(axis=1) > 0.9 * np.pi).all() and (walk > 0.5 * np.pi).all(), walk


def check_limbs_silent_when_swimming(m) -> None:
    assert (m["swim"]["limb_peak"] < targets.SILENT_RATE).all(), m["swim"]["limb_peak"]
    assert (m["swim"]["body_amplitude"] > targets.AMPLITUDE_MIN).all()


def check_trot(m) -> None:
    phase = np.abs(m["walk"]["limb_phase"])  # relative to LF: RF, LH antiphase, RH in phase
    assert (m["walk"]["limb_amplitude"] > targets.AMPLITUDE_MIN).all()
    assert (phase[:, targets.RH] < 0.1 * np.pi).all(), phase
    assert (phase[:, [targets.RF, targets.LH]] > 0.9 * np.pi).all(), phase


def check_standing_wave(m) -> None:
    error = np.abs(targets.wrap(m["walk"]["body_phase"] - targets.STANDING_PHASE))
    assert (error < 0.3 * np.pi).all(), m["walk"]["body_phase"]


def check_rest(m) -> None:
    assert m["rest"]["peak"].max() < targets.SILENT_RATE, m["rest"]["peak"]


def check_motoneuron_amplitude(m) -> None:
    """Rises with drive at least half as fast as the 2007 CPG's amplitude R(d)."""
    rise = np.diff(np.log(m["swim"]["body_half_range"]))
    _, reference = BODY_DRIVE(np.array(SWIM_DRIVES))
    assert (rise > 0.5 * np.diff(np.log(reference))).all(), m["swim"]["body_half_range"]


def check_no_co_silence(m) -> None:
    """The two motoneurons of a segment never rest together (fraction of the cycle)."""
    for gait in ("swim", "walk"):
        assert (m[gait]["co_silence"] < 0.02).all(), m[gait]["co_silence"]


def check_turning(m) -> None:
    bend = m["turn"]["mean_bend"]  # [4, 8]: positive = left motoneurons fire more
    assert (bend[0] > 0.01).all() and (bend[1] < -0.01).all(), bend  # swimming
    assert bend[2].mean() > 0.01 and bend[3].mean() < -0.01, bend  # walking


CHECKS = {
    "swimming frequency": check_swimming_frequency,
    "walking frequency": check_walking_frequency,
    "travelling wave": check_travelling_wave,
    "antiphase": check_antiphase,
    "limbs silent when swimming": check_limbs_silent_when_swimming,
    "trot": check_trot,
    "standing wave": check_standing_wave,
    "rest": check_rest,
    "turning": check_turning,
    "motoneuron amplitude": check_motoneuron_amplitude,
    "no co-silence": check_no_co_silence,
}


@pytest.mark.parametrize("name", CHECKS)
def test_fitted_network(fitted, name):
    CHECKS[name](fitted)


@pytest.mark.parametrize(
    ("broken", "failing"),
    [
        ("no left-right inhibition", ("antiphase",)),
        ("no intersegmental coupling", ("travelling wave",)),
        ("no inter-limb inhibition", ("trot",)),
        ("no limb-to-body projection", ("walking frequency", "standing wave")),
        ("no motoneuron drive", ("motoneuron amplitude", "no co-silence")),
        ("random parameters", tuple(CHECKS)),
    ],
)
def test_checks_fail_for_a_broken_network(broken, failing):
    measures = gaits({**FITTED, **BREAKS[broken]})
    failed = []
    for name in CHECKS:
        try:
            CHECKS[name](measures)
        except AssertionError:
            failed.append(name)
    if broken == "random parameters":
        assert len(failed) >= 5, failed
    else:
        assert set(failing) <= set(failed), failed


def test_objective_ranks_the_fit_far_above_the_box_centre():
    stage = targets.STAGES["limbs"]
    fitted = to_unit(FITTED, stage.free)
    score = targets.objective(fitted, stage, FITTED)
    assert score == targets.objective(fitted, stage, FITTED)  # deterministic
    assert score < 0.5 * targets.objective(np.full_like(fitted, 0.5), stage, FITTED)
