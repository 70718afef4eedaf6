"""Per-link water forces (drag and buoyancy) applied through ``data.xfrc_applied``.

The FARMS water model (Arreguit et al., "FARMS: Framework for Animal and Robot Modeling and
Simulation"), with standard hydrodynamic coefficients. For each link, a capsule of radius r
and length l whose local z axis runs along the link:

- drag, per axis of the link frame:  F_a = −½ ρ C_a A_a |v_a| v_a, with
  axial (z):  C = ``axial_drag`` = 0.1 on the frontal area A = π r² (flow along a slender,
              streamlined body is dominated by skin friction; 0.05–0.2 is typical),
  normal (x, y): C = ``normal_drag`` = 1.1 on the projected area A = 2 r l (a circular
              cylinder in cross flow at Reynolds numbers 10³–10⁵).
  Lateral drag ≫ axial drag (about 20× per trunk link) is what turns the body's travelling
  wave into forward thrust (resistive-force theory, Taylor 1952).
- buoyancy: F_z = ρ g V s, with V = π r² l + 4/3 π r³ the capsule volume and s the
  submerged fraction, s = clip(1/2 + (h_surface − z)/(2 r), 0, 1) from the depth of the
  link centre (exact for a sphere's extremes, linear in between).
- ρ = 1000 kg/m³ (fresh water), g from the model, h_surface = 0 m.

Both forces vanish above the surface and on land (x < ``shore_x``); they act at each
link's centre (its centre of mass), which is where MuJoCo applies ``xfrc_applied``, and
are recomputed from the current state before every physics step (``mj_step1``, forces,
``mj_step2``). No rotational drag. Link velocities come from one velocimeter per link.

Speed. The forces are a compiled loop over links (numba): under 1 µs per physics step
against about 9 µs for the dozen numpy calls of a vectorised version. ``WaterPhysics`` runs
every physics step of a control period in compiled code, calling MuJoCo's C functions
``mj_step1`` and ``mj_step2`` directly with the forces computed in between: a control step
costs one Python call instead of three per physics step.

Contact gate: MuJoCo's collision stage costs about a tenth of a swimming physics step even
when nothing touches. Before each physics step, if every link's bounding sphere, grown by
``MAX_LINK_SPEED`` × timestep (how far it can move before the collision stage sees it), lies
beyond the ramp (x > ``Arena.open_water_x``) and above the pool floor, the animal's geoms get
``contype`` 0 for that step (no collision pairs), else their own values back (always back at
the end of the loop: outside it the model is unchanged). Nothing could touch in such a step,
so the trajectory is the same with and without the gate (tests/test_salamander_env checks
it to the last bit).

numba ships as wheels (its LLVM included): nothing is compiled on the user's side beyond
numba's own first-use compilation, cached on disk (a few seconds once, then ~0.1 s a
process). The kernels share this file because numba's cache does not notice edits to
functions in other files that a cached function calls.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

import mujoco
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from stateful_rl.envs.salamander.model import Arena, Link

WATER_DENSITY = 1000.0  # kg/m³
MAX_LINK_SPEED = 20.0  # m/s, bound on link speeds (random joint actions reach ~7)


@numba.njit(cache=True, nogil=True)
def _water_forces(
    position: np.ndarray,
    rotation: np.ndarray,
    velocity: np.ndarray,
    coefficients: np.ndarray,
    shore_x: float,
    force: np.ndarray,
    wet: np.ndarray,
) -> None:
    """Forces of the module docstring into ``force[:, :3]`` (world frame, N) and the
    submerged fractions into ``wet``, for link centres ``position`` [n, 3] (m), rotations
    ``rotation`` [n, 9] (link axes as columns) and link-frame velocities ``velocity`` [n, 3]
    (m/s); ``coefficients`` [n, 6]: three drag factors ½ρCA, ρgV, and s = c₄ − c₅ z (c₅ = 1/2r).
    """
    for i in range(position.shape[0]):
        c, rot, v = coefficients[i], rotation[i], velocity[i]
        s = max(min(c[4] - c[5] * position[i, 2], 1.0 if position[i, 0] >= shore_x else 0.0), 0.0)
        wet[i] = s
        # Link frame: buoyancy along world z (row 2 of the rotation) minus quadratic drag.
        x = (c[3] * rot[6] - abs(v[0]) * v[0] * c[0]) * s
        y = (c[3] * rot[7] - abs(v[1]) * v[1] * c[1]) * s
        z = (c[3] * rot[8] - abs(v[2]) * v[2] * c[2]) * s
        for a in range(3):
            force[i, a] = rot[3 * a] * x + rot[3 * a + 1] * y + rot[3 * a + 2] * z


def _mujoco_address(name: str) -> int:
    """Address of ``void name(const mjModel*, mjData*)`` in the MuJoCo library that the
    bindings loaded (the same file, so the same loaded copy)."""
    folder = Path(mujoco.__file__).parent
    paths = [*folder.glob("libmujoco.so*"), *folder.glob("libmujoco*.dylib")]
    paths += list(folder.glob("mujoco.dll"))
    if not paths:
        raise ImportError(f"no MuJoCo shared library next to the bindings in {folder}")
    return ctypes.cast(getattr(ctypes.CDLL(str(paths[0])), name), ctypes.c_void_p).value


_MJ_STEP1, _MJ_STEP2 = _mujoco_address("mj_step1"), _mujoco_address("mj_step2")


@intrinsic
def _call(typingctx, function, model, data):
    """Call the C function at address ``function`` with the pointers ``model`` and ``data``
    (all integers). Addresses as arguments, not ctypes globals, let numba cache the caller."""

    def codegen(context, builder, signature, args):
        pointer = context.get_value_type(types.uintp)
        prototype = ir.FunctionType(ir.VoidType(), [pointer, pointer])
        builder.call(builder.inttoptr(args[0], prototype.as_pointer()), args[1:])
        return context.get_dummy_value()

    return types.void(types.uintp, types.uintp, types.uintp), codegen


@numba.njit(cache=True, nogil=True)
def _gate_contacts(
    position: np.ndarray,
    reach: np.ndarray,
    open_water_x: float,
    floor_z: float,
    contype: np.ndarray,
    own_contype: np.ndarray,
) -> None:
    """``contype`` [n] ← 0 if every geom centre ``position`` [n, 3] is more than ``reach`` [n]
    (m) beyond ``open_water_x`` and above ``floor_z``, else ← ``own_contype``."""
    free = True
    for i in range(reach.size):
        if position[i, 0] - reach[i] <= open_water_x or position[i, 2] - reach[i] <= floor_z:
            free = False
            break
    for i in range(reach.size):
        contype[i] = 0 if free else own_contype[i]


@numba.njit(cache=True, nogil=True)
def _simulate(
    step1: int,
    step2: int,
    model: int,
    data: int,
    ctrl: np.ndarray,
    targets: np.ndarray,
    steps_per_target: int,
    power_dt: float,
    actuator_force: np.ndarray,
    actuator_velocity: np.ndarray,
    water_args: tuple,
    gate_args: tuple,
) -> float:
    """For each row of ``targets`` [k, nu]: set ``ctrl``, then ``steps_per_target`` physics
    steps (contact gate, ``mj_step1``, water forces, ``mj_step2``), then add Σ|τ q̇|
    ``power_dt`` (J) to the returned energy. ``step1``, ``step2``: addresses of the MuJoCo
    functions; ``model``, ``data``: ``mjModel*``, ``mjData*``; ``water_args``,
    ``gate_args``: the arguments of ``_water_forces`` and ``_gate_contacts``."""
    energy = 0.0
    for k in range(targets.shape[0]):
        ctrl[:] = targets[k]
        for _ in range(steps_per_target):
            _gate_contacts(*gate_args)
            _call(step1, model, data)
            _water_forces(*water_args)
            _call(step2, model, data)
        power = 0.0
        for j in range(actuator_force.shape[0]):
            power += abs(actuator_force[j] * actuator_velocity[j])
        energy += power * power_dt
    contype, own_contype = gate_args[4], gate_args[5]
    contype[:] = own_contype  # outside this loop the model is always the one built
    return energy


class WaterForces:
    """Drag and buoyancy on the links of one animal in one ``MjData``.

    The links must be bodies ``1..n`` of the model, each with a site ``name`` (local z
    along the link) and a velocimeter ``vel_<name>``, in body-id order, body 1 the root
    with the free joint at the start of ``qpos``, as ``model.build_mjcf`` writes them.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        data: mujoco.MjData,
        links: Sequence[Link],
        shore_x: float = -np.inf,
        surface: float = 0.0,
        axial_drag: float = 0.1,
        normal_drag: float = 1.1,
        density: float = WATER_DENSITY,
    ) -> None:
        if min(axial_drag, normal_drag, density) < 0:
            raise ValueError("drag coefficients and water density must be >= 0")
        n = len(links)
        sites = [model.site(link.name).id for link in links]
        bodies = [model.site_bodyid[s] for s in sites]
        sensor = model.sensor(f"vel_{links[0].name}")
        if sites != list(range(n)) or bodies != list(range(1, n + 1)):
            raise ValueError("links must be bodies 1..n with sites 0..n-1, in the same order")
        radius = np.array([link.radius for link in links])
        length = np.array([link.length for link in links])
        volume = np.pi * radius**2 * length + 4.0 / 3.0 * np.pi * radius**3
        half = 0.5 * density
        normal = half * normal_drag * 2.0 * radius * length
        slope = 0.5 / radius
        self.coefficients = np.stack(
            [
                normal,
                normal,
                half * axial_drag * np.pi * radius**2,
                density * float(np.linalg.norm(model.opt.gravity)) * volume,
                0.5 + surface * slope,
                slope,
            ],
            axis=1,
        )
        self.shore_x = float(shore_x)
        start = sensor.adr[0]
        self._wet = np.zeros(n)
        # Views into MjData that stay valid for its lifetime.
        self._force = data.xfrc_applied[1 : n + 1]
        self._velocity = data.sensordata[start : start + 3 * n].reshape(n, 3)
        self.kernel_args = (
            data.site_xpos[:n],
            data.site_xmat[:n],
            self._velocity,
            self.coefficients,
            self.shore_x,
            self._force,
            self._wet,
        )

    def apply(self) -> None:
        """Write the forces for the state computed by ``mj_step1`` into ``xfrc_applied``."""
        _water_forces(*self.kernel_args)

    def submerged(self) -> np.ndarray:
        """Submerged fraction of each link at the last ``apply``, shape [n], in [0, 1]."""
        return self._wet.copy()


class WaterPhysics:
    """Steps one animal's ``MjData`` with its water forces and the contact gate.

    ``links`` are the animal's geoms (a contiguous range of geom ids, as ``model.build_mjcf``
    writes them); ``arena`` gives the open-water region of the gate.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        data: mujoco.MjData,
        water: WaterForces,
        links: Sequence[Link],
        arena: Arena,
    ) -> None:
        geoms = np.array([model.geom(link.name).id for link in links])
        if not np.array_equal(geoms, np.arange(geoms[0], geoms[0] + geoms.size)):
            raise ValueError("the links' geoms must have consecutive ids")
        first, last = geoms[0], geoms[-1] + 1
        self.model, self.data = model, data
        self._water_args = water.kernel_args
        reach = model.geom_rbound[first:last] + MAX_LINK_SPEED * model.opt.timestep
        # Views into MjModel and MjData that stay valid for their lifetime.
        self._gate_args = (
            data.geom_xpos[first:last],
            reach,
            float(arena.open_water_x),
            -float(arena.pool_depth),
            model.geom_contype[first:last],
            model.geom_contype[first:last].copy(),
        )

    def simulate(self, targets: np.ndarray, steps_per_target: int, power_dt: float) -> float:
        """Run ``len(targets) × steps_per_target`` physics steps, holding each row of joint
        ``targets`` [k, 20] (rad, C-contiguous) for ``steps_per_target`` steps. Returns the
        actuator energy Σ|τ q̇| sampled after each row × ``power_dt`` (J)."""
        data = self.data
        return _simulate(
            _MJ_STEP1,
            _MJ_STEP2,
            self.model._address,
            data._address,
            data.ctrl,
            targets,
            steps_per_target,
            power_dt,
            data.actuator_force,
            data.actuator_velocity,
            self._water_args,
            self._gate_args,
        )
