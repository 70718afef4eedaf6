"""Water model of the salamander and its physics loop: formulas, contact gate, and the
compiled loop (private MuJoCo addresses) against its public-API fallback."""

from __future__ import annotations

import copy
import subprocess
import sys
import warnings

import gymnasium as gym
import mujoco
import numpy as np
import pytest

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.adapters import FORCE_FALLBACK_VARIABLE
from stateful_rl.envs.salamander import water
from stateful_rl.envs.salamander.model import Arena, build_mjcf
from stateful_rl.envs.salamander.water import BACKENDS, WaterForces, WaterPhysics

N_LINKS = 17


def water_links():
    return build_mjcf()[1]


def _water_scene(
    z: float, pitch: float = 0.0, **kwargs
) -> tuple[mujoco.MjModel, mujoco.MjData, WaterForces]:
    xml, links = build_mjcf()
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    data.qpos[:3] = (2.0, 0.0, z)
    data.qpos[3:7] = (np.cos(pitch / 2), 0.0, np.sin(pitch / 2), 0.0)
    data.qvel[:3] = (0.3, 0.2, -0.1)
    data.qvel[3:6] = (0.5, -1.0, 2.0)  # rad/s: every link turns about some normal axis
    data.qvel[6:] = np.random.default_rng(0).uniform(-3.0, 3.0, model.nv - 6)
    mujoco.mj_forward(model, data)
    forces = WaterForces(model, data, links, shore_x=0.0, **kwargs)
    forces.apply()
    return model, data, forces


def test_no_water_force_above_the_surface_or_on_land():
    _, data, _ = _water_scene(z=0.3)
    assert not data.xfrc_applied.any()
    xml, links = build_mjcf()
    model = mujoco.MjModel.from_xml_string(xml)
    land = mujoco.MjData(model)
    land.qpos[:3] = (-2.0, 0.0, -0.1)  # below the surface level, but inland
    land.qvel[3:6] = (1.0, 1.0, 1.0)
    mujoco.mj_forward(model, land)
    WaterForces(model, land, links, shore_x=0.0).apply()
    assert not land.xfrc_applied.any()


def test_water_force_only_on_submerged_links():
    # Head raised 30°: the front links leave the water, the tail stays in it.
    _, data, _ = _water_scene(z=0.12, pitch=-np.pi / 6)
    radius = np.array([link.radius for link in water_links()])
    height = data.site_xpos[:, 2]
    wrench = data.xfrc_applied[1 : N_LINKS + 1]
    above = height - radius >= 0.0
    assert above.any() and (~above).any()
    assert not wrench[above].any()
    assert np.all(np.abs(wrench[height + radius < 0.0]).sum(axis=1) > 0.0)


def test_buoyancy_and_drag_physics():
    _, data, forces = _water_scene(z=-0.5)
    assert np.all(forces.submerged() == 1.0)
    force = data.xfrc_applied[1 : N_LINKS + 1, :3]
    volume = np.array(
        [np.pi * k.radius**2 * k.length + 4 / 3 * np.pi * k.radius**3 for k in water_links()]
    )
    # Vertical: buoyancy ρ g V minus the vertical drag of the sinking (v_z = −0.1) body.
    assert force[:, 2].sum() > 0.95 * 1000 * 9.81 * volume.sum()
    # Drag opposes the motion: negative power, for the forces and for the torques.
    velocity = np.array([data.sensor(f"vel_{k.name}").data for k in water_links()])
    rotation = data.site_xmat.reshape(-1, 3, 3)
    world_velocity = np.einsum("nij,nj->ni", rotation, velocity)
    horizontal_power = np.sum(force[:, :2] * world_velocity[:, :2])
    assert horizontal_power < 0.0
    torque, spin = data.xfrc_applied[1 : N_LINKS + 1, 3:], data.cvel[1 : N_LINKS + 1, :3]
    assert np.all(np.sum(torque * spin, axis=1) < 0.0)


def _link_angular_velocity(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """World-frame angular velocity of bodies 1..17 from MuJoCo's public accessor."""
    result = np.zeros((N_LINKS, 6))
    for body in range(1, N_LINKS + 1):
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, body, result[body - 1], 0)
    return result[:, :3]


def test_water_forces_follow_the_documented_formulas():
    # Head raised 30°, tail under water and moving: partial and full submersion, all terms.
    model, data, forces = _water_scene(z=0.05, pitch=-np.pi / 6, rotational_drag=0.8)
    links = water_links()
    radius = np.array([k.radius for k in links])
    length = np.array([k.length for k in links])
    drag = 500.0 * np.stack([1.1 * 2 * radius * length] * 2 + [0.1 * np.pi * radius**2], axis=1)
    buoyancy = 1000.0 * 9.81 * (np.pi * radius**2 * length + 4 / 3 * np.pi * radius**3)
    wet = np.clip(0.5 - data.site_xpos[:, 2] / (2 * radius), 0.0, 1.0)
    rotation = data.site_xmat.reshape(-1, 3, 3)
    velocity = np.array([data.sensor(f"vel_{k.name}").data for k in links])
    local = buoyancy[:, None] * rotation[:, 2, :] - drag * np.abs(velocity) * velocity
    expected = np.einsum("nij,nj->ni", rotation, wet[:, None] * local)
    assert wet.min() == 0.0 and wet.max() == 1.0 and ((wet > 0.0) & (wet < 1.0)).any()
    np.testing.assert_allclose(forces.submerged(), wet, rtol=1e-12)
    np.testing.assert_allclose(data.xfrc_applied[1 : N_LINKS + 1, :3], expected, atol=1e-12)
    # Torque: −½ρC(2r)(l⁴/32)|ω⊥|ω⊥ s, ω⊥ the angular velocity normal to the link axis.
    omega = _link_angular_velocity(model, data)
    axis = rotation[:, :, 2]
    normal = omega - np.sum(omega * axis, axis=1, keepdims=True) * axis
    factor = 500.0 * 0.8 * 2 * radius * length**4 / 32
    torque = -(factor * wet * np.linalg.norm(normal, axis=1))[:, None] * normal
    assert np.abs(torque).max() > 1e-7
    np.testing.assert_allclose(data.xfrc_applied[1 : N_LINKS + 1, 3:], torque, atol=1e-14)
    assert not data.xfrc_applied[N_LINKS + 1 :].any()


def test_rotational_drag_is_the_normal_drag_integrated_along_the_link():
    """Strip theory by quadrature: each section s of the link moves at ω s across the flow."""
    link = water_links()[1]
    omega, density, drag = 3.0, 1000.0, 1.1
    s = np.linspace(-link.length / 2, link.length / 2, 200_001)
    per_length = 0.5 * density * drag * 2 * link.radius * np.abs(omega * s) * omega * s
    torque = -np.trapezoid(s * per_length, s)
    forces = _water_scene(z=-0.5)[2]
    factor = forces.coefficients[1, 6]
    assert -factor * omega * abs(omega) == pytest.approx(torque, rel=1e-6)


def test_rotational_drag_zero_leaves_torques_zero():
    _, data, _ = _water_scene(z=-0.5, rotational_drag=0.0)
    assert not data.xfrc_applied[:, 3:].any()
    assert data.xfrc_applied[1 : N_LINKS + 1, :3].any()


@pytest.mark.parametrize("name", ["axial_drag", "normal_drag", "rotational_drag", "density"])
@pytest.mark.parametrize("value", [-0.1, np.nan, np.inf])
def test_bad_water_coefficients_raise(name, value):
    with pytest.raises(ValueError, match=name):
        _water_scene(z=-0.5, **{name: value})


def _physics(model, data, forces, backend, arena=None) -> WaterPhysics:
    return WaterPhysics(model, [data], [forces], water_links(), arena or Arena(), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_physics_loop_matches_stepping_from_python(backend):
    """``WaterPhysics.simulate`` = mj_step1, forces, mj_step2 per step, energy per target."""
    model, data, forces = _water_scene(z=-0.01)
    reference = copy.copy(data)
    reference_water = WaterForces(model, reference, water_links(), shore_x=0.0)
    targets = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 30, model.nu))
    energy = _physics(model, data, forces, backend).simulate(targets, 3, 0.015)
    expected = 0.0
    for row in targets[0]:
        reference.ctrl[:] = row
        for _ in range(3):
            mujoco.mj_step1(model, reference)
            reference_water.apply()
            mujoco.mj_step2(model, reference)
        expected += np.abs(reference.actuator_force * reference.actuator_velocity).sum() * 0.015
    assert data.time == pytest.approx(90 * model.opt.timestep)
    np.testing.assert_array_equal(data.qpos, reference.qpos)
    np.testing.assert_array_equal(data.qvel, reference.qvel)
    assert energy.shape == (1,)
    assert energy[0] == pytest.approx(expected, rel=1e-12) and energy[0] > 0.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("z", [-0.01, -0.28])  # swimming; lying on the pool floor
def test_contact_gate_changes_nothing(z, backend):
    model, data, forces = _water_scene(z=z)
    assert (data.ncon > 0) == (z < -0.2)  # touching the floor at first, then floating up
    ungated = copy.copy(data)
    never_open = Arena(ramp_length=100.0)  # open water beyond x = 100 m: the gate stays shut
    ungated_physics = _physics(
        model, ungated, WaterForces(model, ungated, water_links(), 0.0), backend, never_open
    )
    contype = model.geom_contype.copy()
    targets = np.random.default_rng(1).uniform(-0.5, 0.5, (1, 100, model.nu))
    _physics(model, data, forces, backend).simulate(targets, 2, 0.01)
    ungated_physics.simulate(targets, 2, 0.01)
    np.testing.assert_array_equal(data.qpos, ungated.qpos)
    np.testing.assert_array_equal(data.qvel, ungated.qvel)
    np.testing.assert_array_equal(model.geom_contype, contype)  # restored after the loop


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_of_animals_equals_each_alone_and_skips_inactive(backend):
    xml, links = build_mjcf()
    model = mujoco.MjModel.from_xml_string(xml)
    datas = [mujoco.MjData(model) for _ in range(3)]
    for k, data in enumerate(datas):  # one on land, one in water, one on the ramp
        data.qpos[:3] = ((-1.0, 0.0, 0.1), (2.0, 0.0, -0.01), (0.3, 0.0, 0.0))[k]
        mujoco.mj_forward(model, data)
    alone = [copy.copy(data) for data in datas]
    batch = [WaterForces(model, data, links, shore_x=0.0) for data in datas]
    targets = np.random.default_rng(2).uniform(-0.5, 0.5, (3, 20, model.nu))
    physics = WaterPhysics(model, datas, batch, links, Arena(), backend=backend)
    energy = physics.simulate(targets, 2, 0.01, active=np.array([True, False, True])).copy()
    for k in (0, 2):
        single = WaterForces(model, alone[k], links, shore_x=0.0)
        one = WaterPhysics(model, [alone[k]], [single], links, Arena(), backend=backend)
        assert one.simulate(targets[k : k + 1], 2, 0.01)[0] == energy[k]
        np.testing.assert_array_equal(datas[k].qpos, alone[k].qpos)
        np.testing.assert_array_equal(datas[k].qvel, alone[k].qvel)
    assert energy[1] == 0.0 and datas[1].time == 0.0


def _rollout(env_id: str, steps: int) -> tuple[str, np.ndarray]:
    env = gym.make(env_id, control="cpg")
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(0)
    trace = [obs]
    for _ in range(steps):
        obs, reward, *_ = env.step(rng.uniform(0.0, 5.0, 2))
        trace.append(np.append(obs, reward))
    trace.append(env.unwrapped.data.qpos)
    return env.unwrapped.physics.backend, np.concatenate(trace)


@pytest.mark.parametrize("env_id", ["SalamanderSwim-v1", "SalamanderWalk-v1"])
def test_public_fallback_gives_the_compiled_trajectory_exactly(env_id, monkeypatch):
    monkeypatch.delenv(FORCE_FALLBACK_VARIABLE, raising=False)
    compiled = _rollout(f"stateful_rl/{env_id}", 300)
    monkeypatch.setenv(FORCE_FALLBACK_VARIABLE, "1")
    public = _rollout(f"stateful_rl/{env_id}", 300)
    assert (compiled[0], public[0]) == BACKENDS
    np.testing.assert_array_equal(compiled[1], public[1])


@pytest.fixture
def fresh_fallback_state():
    """Forget earlier fallback warnings and library look-ups, before and after the test."""
    water._warn_fallback.cache_clear()
    water._step_addresses.cache_clear()
    yield
    water._warn_fallback.cache_clear()
    water._step_addresses.cache_clear()


def _make_two_envs() -> list[RuntimeWarning]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        envs = [gym.make("stateful_rl/SalamanderSwim-v0") for _ in range(2)]
        for env in envs:
            assert env.unwrapped.physics.backend == "public"
            env.reset(seed=0)
            obs, *_ = env.step(np.array([4.0, 4.0]))
            assert np.isfinite(obs).all()
    return [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_missing_private_address_degrades_to_the_fallback_with_one_warning(
    monkeypatch, fresh_fallback_state
):
    monkeypatch.delenv(FORCE_FALLBACK_VARIABLE, raising=False)
    monkeypatch.delattr(mujoco.MjData, "_address")
    caught = _make_two_envs()
    assert len(caught) == 1 and "_address" in str(caught[0].message)
    with pytest.raises(AttributeError):  # asked for explicitly, the failure is not hidden
        model, data, forces = _water_scene(z=-0.01)
        _physics(model, data, forces, "compiled")


def test_missing_library_degrades_to_the_fallback_with_one_warning(
    monkeypatch, tmp_path, fresh_fallback_state
):
    monkeypatch.delenv(FORCE_FALLBACK_VARIABLE, raising=False)
    monkeypatch.setattr(mujoco, "__file__", str(tmp_path / "__init__.py"))
    caught = _make_two_envs()
    assert len(caught) == 1 and "no MuJoCo shared library" in str(caught[0].message)


def test_water_module_imports_without_the_library_or_the_private_address():
    code = (
        "import mujoco\n"
        "mujoco.__file__ = '/nonexistent/mujoco/__init__.py'\n"
        "del mujoco.MjModel._address, mujoco.MjData._address\n"
        "import stateful_rl.envs.salamander.water\n"
        "import gymnasium as gym, stateful_rl.envs\n"
        "env = gym.make('stateful_rl/SalamanderSwim-v0')\n"
        "env.reset(seed=0)\n"
        "env.step(env.action_space.sample())\n"
        "assert env.unwrapped.physics.backend == 'public'\n"
    )
    subprocess.run([sys.executable, "-W", "ignore::RuntimeWarning", "-c", code], check=True)


def test_bad_backend_raises():
    model, data, forces = _water_scene(z=-0.01)
    with pytest.raises(ValueError, match="backend"):
        _physics(model, data, forces, "ctypes")


def test_animals_of_one_loop_share_their_water_coefficients():
    xml, links = build_mjcf()
    model = mujoco.MjModel.from_xml_string(xml)
    datas = [mujoco.MjData(model) for _ in range(2)]
    forces = [WaterForces(model, datas[0], links), WaterForces(model, datas[1], links, 0.0)]
    with pytest.raises(ValueError, match="same coefficients and shore"):
        WaterPhysics(model, datas, forces, links, Arena())
