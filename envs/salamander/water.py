"""Per-link water forces (drag and buoyancy) and the physics loop that applies them.

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
- rotational drag about the link's normal axes (yaw and pitch of the link): the normal drag
  integrated along a cylinder turning at ω⊥ about its centre, where the section at
  s ∈ [−l/2, l/2] moves at |ω⊥ s| across the flow (strip theory, as for the drag on a
  rotating slender body in Hoerner, "Fluid-Dynamic Drag", 1965, ch. 3):
  τ = −∫ s · ½ ρ C_r (2r) |ω⊥ s| ω⊥ s ds = −½ ρ C_r (2r) (l⁴ / 32) |ω⊥| ω⊥,
  with C = ``rotational_drag`` (default ``normal_drag``, the same cylinder in cross flow).
  Spinning about its own axis (roll) meets only skin friction and is left undamped.
- buoyancy: F_z = ρ g V s, with V = π r² l + 4/3 π r³ the capsule volume and s the
  submerged fraction, s = clip(1/2 + (h_surface − z)/(2 r), 0, 1) from the depth of the
  link centre (exact for a sphere's extremes, linear in between).
- ρ = 1000 kg/m³ (fresh water), g from the model, h_surface = 0 m.

Drag and buoyancy scale with s (all vanish above the surface and on land, x < ``shore_x``);
they act at each link's centre (its centre of mass), which is where MuJoCo applies
``xfrc_applied`` (forces in columns 0–2, torques in 3–5), and are recomputed from the
current state before every physics step (``mj_step1``, forces, ``mj_step2``). Link
velocities come from one velocimeter per link, angular velocities from ``data.cvel``.

Physics loop. ``WaterPhysics`` steps N ``MjData`` of one ``MjModel`` through a control
period. Two interchangeable implementations, chosen when it is built (never at import):
``"compiled"`` runs every physics step of every animal in one numba loop that calls MuJoCo's
C functions ``mj_step1``/``mj_step2`` directly (one Python call per control period instead
of four per physics step); it needs the MuJoCo library's symbols (ctypes) and the bindings'
private ``_address`` of ``MjModel``/``MjData``. ``"public"`` runs the same steps from Python
through ``mujoco.mj_step1``/``mj_step2`` and the same compiled force and gate functions, so
both give the same trajectories to the last bit (tests/envs/test_salamander_water checks
it). If the compiled loop cannot be built, the public one takes over with a warning;
``STATEFUL_RL_FORCE_FALLBACK=1`` (``stateful_rl.adapters``) asks for it outright.

Contact gate: MuJoCo's collision stage is a large share of a swimming physics step even when
nothing touches. Before each physics step, if every link's bounding sphere, grown by
``MAX_LINK_SPEED`` × timestep (how far it can move before the collision stage sees it), lies
beyond the ramp (x > ``Arena.open_water_x``) and above the pool floor, the animal's geoms get
``contype`` 0 for that step (no collision pairs), else their own values back (always back at
the end of the loop: outside it the model is unchanged). Nothing could touch in such a step,
so the trajectory is the same with and without the gate (tests check it to the last bit).

The force and gate functions are compiled loops over links (numba): at 17 links, a dozen
numpy calls per physics step would cost more than the arithmetic. numba ships as wheels
(its LLVM included) and caches its compilation on disk. The kernels share this file because
numba's cache does not notice edits to functions in other files that a cached function calls.
"""

from __future__ import annotations

import ctypes
import functools
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import mujoco
import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from stateful_rl.adapters import fallback_forced
from stateful_rl.envs.salamander.checks import check_float
from stateful_rl.envs.salamander.model import Arena, Link

WATER_DENSITY = 1000.0  # kg/m³
MAX_LINK_SPEED = 20.0  # m/s, bound on link speeds (random joint actions reach ~7)
BACKENDS = ("compiled", "public")
# Columns of the per-animal address table of the compiled loop (see ``_AnimalViews``).
_DATA, _CTRL, _TAU, _QDOT, _XPOS, _XMAT, _VEL, _CVEL, _FORCE, _WET, _GEOM_XPOS = range(11)


@numba.njit(cache=True, nogil=True)
def _water_forces(
    position: np.ndarray,
    rotation: np.ndarray,
    velocity: np.ndarray,
    spatial_velocity: np.ndarray,
    coefficients: np.ndarray,
    shore_x: float,
    force: np.ndarray,
    wet: np.ndarray,
) -> None:
    """Forces and torques of the module docstring into ``force`` [n, 6] (world frame, N and
    N·m) and the submerged fractions into ``wet`` [n], for link centres ``position`` [n, 3]
    (m), rotations ``rotation`` [n, 9] (link axes as columns), link-frame velocities
    ``velocity`` [n, 3] (m/s) and ``spatial_velocity`` [n, 6] (``data.cvel`` rows: angular
    velocity, world frame, rad/s, first); ``coefficients`` [n, 7]: three drag factors ½ρCA,
    ρgV, s = c₄ − c₅ z (c₅ = 1/2r), and the rotational factor ½ρC(2r)l⁴/32."""
    for i in range(position.shape[0]):
        c, rot, v, w = coefficients[i], rotation[i], velocity[i], spatial_velocity[i]
        s = max(min(c[4] - c[5] * position[i, 2], 1.0 if position[i, 0] >= shore_x else 0.0), 0.0)
        wet[i] = s
        # Link frame: buoyancy along world z (row 2 of the rotation) minus quadratic drag.
        x = (c[3] * rot[6] - abs(v[0]) * v[0] * c[0]) * s
        y = (c[3] * rot[7] - abs(v[1]) * v[1] * c[1]) * s
        z = (c[3] * rot[8] - abs(v[2]) * v[2] * c[2]) * s
        for a in range(3):
            force[i, a] = rot[3 * a] * x + rot[3 * a + 1] * y + rot[3 * a + 2] * z
        # World frame: the angular velocity less its part along the link axis (column 2).
        spin = w[0] * rot[2] + w[1] * rot[5] + w[2] * rot[8]
        n0, n1, n2 = w[0] - spin * rot[2], w[1] - spin * rot[5], w[2] - spin * rot[8]
        scale = -c[6] * s * np.sqrt(n0 * n0 + n1 * n1 + n2 * n2)
        force[i, 3], force[i, 4], force[i, 5] = scale * n0, scale * n1, scale * n2


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
def _actuator_power(force: np.ndarray, velocity: np.ndarray) -> float:
    """Mechanical power Σ|τ q̇| (W) of the actuators."""
    power = 0.0
    for j in range(force.shape[0]):
        power += abs(force[j] * velocity[j])
    return power


@intrinsic
def _call_intrinsic(typingctx, function, model, data):
    """Call the C function at address ``function`` with the pointers ``model`` and ``data``
    (all integers). Addresses as arguments, not ctypes globals, let numba cache the caller."""

    def codegen(context, builder, signature, args):
        from llvmlite import ir  # numba's own code generator; needed only when compiling

        pointer = context.get_value_type(types.uintp)
        prototype = ir.FunctionType(ir.VoidType(), [pointer, pointer])
        builder.call(builder.inttoptr(args[0], prototype.as_pointer()), args[1:])
        return context.get_dummy_value()

    return types.void(types.uintp, types.uintp, types.uintp), codegen


@intrinsic
def _float_pointer_intrinsic(typingctx, address):
    """The integer ``address`` as a ``double*``, to view MjData memory with ``numba.carray``."""

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return types.CPointer(types.float64)(types.uintp), codegen


# numba's stubs type an intrinsic's call from Python (typingctx first, never returns);
# compiled code calls it without typingctx, as these signatures say.
_call = cast(Callable[[int, int, int], None], _call_intrinsic)
_float_pointer = cast(Callable[[int], Any], _float_pointer_intrinsic)


@numba.njit(cache=True, nogil=True)
def _view(address: int, rows: int, columns: int) -> np.ndarray:
    """The C-contiguous float64 array [rows, columns] at ``address``."""
    return numba.carray(_float_pointer(address), (rows, columns))


@numba.njit(cache=True, nogil=True)
def _row(address: int, size: int) -> np.ndarray:
    """The float64 array [size] at ``address``."""
    return numba.carray(_float_pointer(address), size)


@numba.njit(cache=True, nogil=True)
def _simulate_compiled(
    step1: int,
    step2: int,
    model: int,
    animals: np.ndarray,
    targets: np.ndarray,
    active: np.ndarray,
    steps_per_target: int,
    scalars: np.ndarray,
    coefficients: np.ndarray,
    reach: np.ndarray,
    contype: np.ndarray,
    own_contype: np.ndarray,
    energy: np.ndarray,
) -> None:
    """``WaterPhysics.simulate`` in one compiled loop. ``step1``, ``step2``: addresses of
    the MuJoCo functions; ``model``: the ``mjModel*``; ``animals`` [N, 11]: per animal, the
    ``mjData*`` and the addresses of its arrays (columns ``_DATA``..``_GEOM_XPOS``);
    ``scalars``: (shore_x, open_water_x, floor_z, power_dt)."""
    n, nu, n_geoms = coefficients.shape[0], targets.shape[2], reach.size
    shore_x, open_water_x, floor_z, power_dt = scalars[0], scalars[1], scalars[2], scalars[3]
    for b in range(animals.shape[0]):
        if not active[b]:
            continue
        a = animals[b]
        ctrl, tau, qdot = _row(a[_CTRL], nu), _row(a[_TAU], nu), _row(a[_QDOT], nu)
        position, rotation = _view(a[_XPOS], n, 3), _view(a[_XMAT], n, 9)
        velocity, spatial_velocity = _view(a[_VEL], n, 3), _view(a[_CVEL], n, 6)
        force, wet = _view(a[_FORCE], n, 6), _row(a[_WET], n)
        geom_position = _view(a[_GEOM_XPOS], n_geoms, 3)
        energy[b] = 0.0
        for k in range(targets.shape[1]):
            ctrl[:] = targets[b, k]
            for _ in range(steps_per_target):
                _gate_contacts(geom_position, reach, open_water_x, floor_z, contype, own_contype)
                _call(step1, model, a[_DATA])
                _water_forces(
                    position,
                    rotation,
                    velocity,
                    spatial_velocity,
                    coefficients,
                    shore_x,
                    force,
                    wet,
                )
                _call(step2, model, a[_DATA])
            energy[b] += _actuator_power(tau, qdot) * power_dt
    contype[:] = own_contype  # outside this loop the model is always the one built


class WaterForces:
    """Drag and buoyancy on the links of one animal in one ``MjData``.

    The links must be bodies ``1..n`` of the model, each with a site ``name`` (local z
    along the link) and a velocimeter ``vel_<name>``, in body-id order, body 1 the root
    with the free joint at the start of ``qpos``, as ``model.build_mjcf`` writes them.
    ``wet``: optional array [n] that receives the submerged fractions (a row of a batch).
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
        rotational_drag: float | None = None,
        density: float = WATER_DENSITY,
        wet: np.ndarray | None = None,
    ) -> None:
        rotational_drag = normal_drag if rotational_drag is None else rotational_drag
        for name, value in (
            ("axial_drag", axial_drag),
            ("normal_drag", normal_drag),
            ("rotational_drag", rotational_drag),
        ):
            check_float(name, value, 0.0, 10.0)  # drag coefficients
        check_float("density", density, 0.0, 2e4)  # kg/m³
        check_float("surface", surface, -1e3, 1e3)  # m
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
                half * rotational_drag * 2.0 * radius * length**4 / 32.0,
            ],
            axis=1,
        )
        self.shore_x = float(shore_x)
        start = sensor.adr[0]
        self._wet = np.zeros(n) if wet is None else wet
        if self._wet.shape != (n,):
            raise ValueError(f"wet must have shape ({n},), got {self._wet.shape}")
        # Views into MjData that stay valid for its lifetime.
        self._force = data.xfrc_applied[1 : n + 1]
        self._velocity = data.sensordata[start : start + 3 * n].reshape(n, 3)
        self.kernel_args = (
            data.site_xpos[:n],
            data.site_xmat[:n],
            self._velocity,
            data.cvel[1 : n + 1],
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


def _mujoco_library() -> ctypes.CDLL:
    """The MuJoCo shared library that the bindings loaded (the same file, so the same
    loaded copy)."""
    folder = Path(mujoco.__file__).parent
    paths = [*folder.glob("libmujoco.so*"), *folder.glob("libmujoco*.dylib")]
    paths += list(folder.glob("mujoco.dll"))
    if not paths:
        raise OSError(f"no MuJoCo shared library next to the bindings in {folder}")
    return ctypes.CDLL(str(paths[0]))


@functools.cache
def _step_addresses() -> tuple[int, int]:
    """Addresses of ``void mj_step1(const mjModel*, mjData*)`` and ``mj_step2``."""
    library = _mujoco_library()

    def address(name: str) -> int:
        value = ctypes.cast(getattr(library, name), ctypes.c_void_p).value
        if value is None:
            raise OSError(f"{name} is a null pointer in the MuJoCo library")
        return value

    return address("mj_step1"), address("mj_step2")


def _native_address(value: mujoco.MjModel | mujoco.MjData) -> int:
    """The C pointer behind a bindings object (a private attribute of the bindings)."""
    return int(value._address)


@functools.cache
def _warn_fallback(reason: str) -> None:
    """Warn once per reason that the public physics loop replaces the compiled one."""
    warnings.warn(
        f"salamander physics: the compiled MuJoCo loop is unavailable ({reason}); "
        "stepping through the public mujoco API instead (same results, slower)",
        RuntimeWarning,
        stacklevel=4,
    )


class _AnimalViews:
    """What one animal's physics step touches: its ``MjData``, water and gate views."""

    def __init__(self, data: mujoco.MjData, water: WaterForces, geoms: slice) -> None:
        self.data = data
        self.water_args = water.kernel_args
        self.geom_position = data.geom_xpos[geoms]
        self.ctrl, self.force = data.ctrl, data.actuator_force
        self.velocity = data.actuator_velocity

    def addresses(self) -> list[int]:
        """The row of the compiled loop's address table (columns ``_DATA``..``_GEOM_XPOS``)."""
        xpos, xmat, velocity, cvel, _, _, force, wet = self.water_args
        arrays = (self.ctrl, self.force, self.velocity, xpos, xmat, velocity, cvel, force, wet)
        for array in (*arrays, self.geom_position):
            if not array.flags.c_contiguous or array.dtype != np.float64:
                raise ValueError("the compiled loop needs C-contiguous float64 views")
        return [
            _native_address(self.data),
            *(array.ctypes.data for array in arrays),
            self.geom_position.ctypes.data,
        ]


class WaterPhysics:
    """Steps ``N`` animals, one ``MjData`` each of one ``MjModel``, with their water forces
    and the contact gate.

    ``links`` are the animal's geoms (a contiguous range of geom ids, as ``model.build_mjcf``
    writes them); ``arena`` gives the open-water region of the gate. ``backend``:
    ``"compiled"``, ``"public"`` or None (the compiled loop if it can be built and
    ``STATEFUL_RL_FORCE_FALLBACK`` is not set, else the public one with a warning); the choice
    is in ``self.backend``.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        datas: Sequence[mujoco.MjData],
        waters: Sequence[WaterForces],
        links: Sequence[Link],
        arena: Arena,
        backend: str | None = None,
    ) -> None:
        if backend not in (None, *BACKENDS):
            raise ValueError(f"backend must be None or one of {BACKENDS}, got {backend!r}")
        if len(datas) != len(waters) or not datas:
            raise ValueError("need one WaterForces per MjData, and at least one")
        if any(
            w.shore_x != waters[0].shore_x
            or not np.array_equal(w.coefficients, waters[0].coefficients)
            for w in waters
        ):
            raise ValueError("all animals' WaterForces must have the same coefficients and shore")
        geoms = np.array([model.geom(link.name).id for link in links])
        if not np.array_equal(geoms, np.arange(geoms[0], geoms[0] + geoms.size)):
            raise ValueError("the links' geoms must have consecutive ids")
        first, last = geoms[0], geoms[-1] + 1
        self.model = model
        self._animals = [
            _AnimalViews(data, water, slice(first, last))
            for data, water in zip(datas, waters, strict=True)
        ]
        self._coefficients, self._shore_x = waters[0].coefficients, waters[0].shore_x
        self._reach = model.geom_rbound[first:last] + MAX_LINK_SPEED * model.opt.timestep
        self._gate = (float(arena.open_water_x), -float(arena.pool_depth))
        # A view into MjModel that stays valid for its lifetime, and the values it was built with.
        self._contype = model.geom_contype[first:last]
        self._own_contype = self._contype.copy()
        self._energy = np.zeros(len(datas))
        self._all = np.ones(len(datas), dtype=bool)
        self.backend = "public"
        if backend == "compiled" or (backend is None and not fallback_forced()):
            try:
                self._build_compiled()
                self.backend = "compiled"
            except Exception as error:  # any failure of the private path: use the public one
                if backend == "compiled":
                    raise
                _warn_fallback(f"{type(error).__name__}: {error}")

    def _build_compiled(self) -> None:
        """The compiled loop's arguments; one empty call compiles it (or loads numba's cache)
        so that a failure shows here, not in the first step."""
        self._steps = _step_addresses()
        self._model_address = _native_address(self.model)
        self._scalars = np.array([self._shore_x, *self._gate, 0.0])  # the last: power_dt
        self._table = np.array([a.addresses() for a in self._animals], dtype=np.uintp)
        empty = np.zeros((len(self._animals), 0, self.model.nu))
        self._simulate_compiled(empty, 1, 0.0, self._all)

    def simulate(
        self,
        targets: np.ndarray,
        steps_per_target: int,
        power_dt: float,
        active: np.ndarray | None = None,
    ) -> np.ndarray:
        """For every animal ``b`` (where ``active`` [N] bool is set; all by default), run
        ``targets.shape[1] × steps_per_target`` physics steps, holding each row of its joint
        ``targets[b]`` [k, nu] (rad, C-contiguous) for ``steps_per_target`` steps. Returns the
        actuator energy Σ|τ q̇| sampled after each row × ``power_dt`` (J), shape [N] (0 where
        inactive; a view, overwritten by the next call)."""
        if targets.shape[0] != len(self._animals) or targets.ndim != 3:
            raise ValueError(f"targets must be [{len(self._animals)}, k, nu], got {targets.shape}")
        active = self._all if active is None else active
        self._energy[:] = 0.0
        if self.backend == "compiled":
            self._simulate_compiled(targets, steps_per_target, power_dt, active)
        else:
            self._simulate_public(targets, steps_per_target, power_dt, active)
        return self._energy

    def _simulate_compiled(
        self, targets: np.ndarray, steps_per_target: int, power_dt: float, active: np.ndarray
    ) -> None:
        self._scalars[3] = power_dt
        _simulate_compiled(
            *self._steps,
            self._model_address,
            self._table,
            targets,
            active,
            steps_per_target,
            self._scalars,
            self._coefficients,
            self._reach,
            self._contype,
            self._own_contype,
            self._energy,
        )

    def _simulate_public(
        self, targets: np.ndarray, steps_per_target: int, power_dt: float, active: np.ndarray
    ) -> None:
        model, gate = self.model, (self._reach, *self._gate, self._contype, self._own_contype)
        try:
            for b in np.flatnonzero(active):
                animal = self._animals[b]
                data, water_args = animal.data, animal.water_args
                for row in targets[b]:
                    animal.ctrl[:] = row
                    for _ in range(steps_per_target):
                        _gate_contacts(animal.geom_position, *gate)
                        mujoco.mj_step1(model, data)
                        _water_forces(*water_args)
                        mujoco.mj_step2(model, data)
                    self._energy[b] += _actuator_power(animal.force, animal.velocity) * power_dt
        finally:
            self._contype[:] = self._own_contype
