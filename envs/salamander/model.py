"""Procedural MJCF of the salamander and its arena (land, shore ramp, pool).

The animal follows the FARMS salamander layout (Arreguit et al.): a head and 8 more body
links in a chain joined by 8 actuated yaw joints, and 4 legs (LF, RF, LH, RH) of two
segments with 3 joints each (hip yaw, hip lift, knee). Units: metres, kilograms, seconds,
radians. Names: bodies ``head``, ``body_1``..``body_8``, ``<leg>_upper``, ``<leg>_lower``;
joints and their position actuators ``spine_1``..``spine_8``, ``<leg>_yaw``, ``<leg>_lift``,
``<leg>_knee`` (actuators in the order ``JOINT_NAMES``); one velocimeter ``vel_<body>`` per
body (used by the water model). The head is the root body (free joint ``root``) and looks
along its local +x axis.

The arena: land (top at ``land_height``) for ``x < shore_x``, a ramp down to the pool floor
(``z = −pool_depth``) over ``ramp_length``, then the pool, infinite towards +x. The water
surface is ``z = 0``; water fills ``x ≥ shore_x`` below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stateful_rl.envs.salamander.checks import check_float, check_interval
from stateful_rl.envs.salamander.cpg import LIMB_IS_LEFT, LIMB_NAMES, N_SEGMENTS

LEG_JOINTS = ("yaw", "lift", "knee")
RAMP_THICKNESS = 0.05  # m, the ramp slab
# Canonical joint (and actuator) order: spine head to tail, then each limb's three joints.
JOINT_NAMES = tuple(f"spine_{k}" for k in range(1, N_SEGMENTS + 1)) + tuple(
    f"{leg}_{joint}" for leg in LIMB_NAMES for joint in LEG_JOINTS
)


@dataclass(frozen=True)
class SalamanderBody:
    """Geometry, mass and actuation of the animal (SI units).

    Defaults: a 0.45 m animal (9 links of 0.05 m) tapering from a 2.2 cm trunk radius to a
    6 mm tail tip, body density 900 kg/m³ (floats with ~90% of its volume under water),
    denser legs (1100 kg/m³, bone) that hang below the body and keep it upright in water.
    Position actuators: ``kp`` in N·m/rad, critically damped (``dampratio`` 1); ``armature``
    (kg·m²) adds rotor-like inertia so the stiff, light tail joints stay stable at 5 ms.
    """

    link_length: float = 0.05  # m, each of the 9 body links (head first)
    link_radii: tuple[float, ...] = (0.020, 0.022, 0.022, 0.022, 0.020, 0.016, 0.012, 0.009, 0.006)
    fore_girdle: int = 1  # body link carrying the fore legs
    hind_girdle: int = 4  # body link carrying the hind legs
    upper_leg: tuple[float, float] = (0.045, 0.007)  # (length, radius), m
    lower_leg: tuple[float, float] = (0.045, 0.006)  # (length, radius), m; the foot
    body_density: float = 900.0  # kg/m³
    leg_density: float = 1100.0  # kg/m³
    body_range: float = 1.0  # rad, spine joints move in ±body_range
    yaw_range: tuple[float, float] = (-1.4, 1.4)  # rad, hip protraction (+) / retraction
    lift_range: tuple[float, float] = (-0.8, 1.2)  # rad, hip elevation (+ = foot up)
    knee_range: tuple[float, float] = (-1.0, 1.0)  # rad, + = foot outward
    body_kp: float = 1.5  # N·m/rad, spine position actuators
    leg_kp: float = 1.0  # N·m/rad, leg position actuators
    armature: float = 5e-4  # kg·m², every hinge
    joint_damping: float = 0.01  # N·m·s/rad, every hinge (passive)
    body_friction: float = 0.2  # sliding friction of the body links (belly slides)
    foot_friction: float = 1.0  # sliding friction of the lower legs (feet grip)

    def __post_init__(self) -> None:
        if len(self.link_radii) != N_SEGMENTS + 1:
            raise ValueError(
                f"link_radii needs {N_SEGMENTS + 1} values, got {len(self.link_radii)}"
            )
        if not 0 <= self.fore_girdle < self.hind_girdle <= N_SEGMENTS:
            raise ValueError(f"need 0 <= fore_girdle < hind_girdle <= {N_SEGMENTS}")
        # Positive sizes (m), densities (kg/m³), gains (N·m/rad), angles (rad); >= 0 others.
        for k, radius in enumerate(self.link_radii):
            check_float(f"link_radii[{k}]", radius, 0.0, 0.5, open_low=True)
        for name in ("upper_leg", "lower_leg"):
            length, radius = getattr(self, name)
            check_float(f"{name}[0]", length, 0.0, 1.0, open_low=True)
            check_float(f"{name}[1]", radius, 0.0, 0.5, open_low=True)
        for name, high in (
            ("link_length", 1.0),
            ("body_density", 1e5),
            ("leg_density", 1e5),
            ("body_range", np.pi),
            ("body_kp", 1e3),
            ("leg_kp", 1e3),
        ):
            check_float(name, getattr(self, name), 0.0, high, open_low=True)
        for name, high in (
            ("armature", 1.0),
            ("joint_damping", 100.0),
            ("body_friction", 10.0),
            ("foot_friction", 10.0),
        ):
            check_float(name, getattr(self, name), 0.0, high)
        for name in ("yaw_range", "lift_range", "knee_range"):
            check_interval(name, getattr(self, name), -np.pi, np.pi)


@dataclass(frozen=True)
class Arena:
    """Land, shore ramp and pool (m). The water surface is z = 0.

    MuJoCo combines two geoms' frictions by their maximum, so the low ``land_friction`` lets
    the belly slide while the feet (``SalamanderBody.foot_friction``) grip. The pool
    (0.3 m) is far deeper than the animal (4.4 cm thick, legs 5 cm): it cannot crawl on
    the bottom.
    """

    shore_x: float = 0.0  # where land ends and the ramp starts (x, m)
    land_height: float = 0.04  # land surface above the water surface (m)
    ramp_length: float = 0.5  # horizontal length of the ramp (m)
    pool_depth: float = 0.3  # pool floor below the water surface (m)
    land_friction: float = 0.2  # sliding friction of land, ramp and pool floor
    half_width: float = 50.0  # half extent of the arena along y, and of land/pool along x (m)

    def __post_init__(self) -> None:
        check_float("shore_x", self.shore_x, -1e3, 1e3)
        check_float("land_height", self.land_height, 0.0, 1.0)
        check_float("land_friction", self.land_friction, 0.0, 10.0)
        for name, high in (("ramp_length", 100.0), ("pool_depth", 100.0), ("half_width", 1e3)):
            check_float(name, getattr(self, name), 0.0, high, open_low=True)

    @property
    def pool_x(self) -> float:
        """x at which the ramp reaches the pool floor (full depth starts)."""
        return self.shore_x + self.ramp_length

    @property
    def open_water_x(self) -> float:
        """x beyond which only the pool floor lies below (past the ramp slab's far edge)."""
        return self.pool_x + RAMP_THICKNESS


@dataclass(frozen=True)
class Link:
    """One rigid link as the water model sees it: a capsule of ``radius`` and ``length``."""

    name: str
    radius: float
    length: float


@dataclass
class _Mjcf:
    """Accumulates MJCF fragments while the kinematic tree is written."""

    links: list[Link] = field(default_factory=list)
    actuators: dict[str, str] = field(default_factory=dict)
    sensors: list[str] = field(default_factory=list)

    def link(self, name: str, start, end, radius: float, density: float, friction: float) -> str:
        """A capsule geom plus its velocimeter site, both from ``start`` to ``end``."""
        fromto = " ".join(f"{v:.5g}" for v in (*start, *end))
        self.links.append(Link(name, radius, float(np.linalg.norm(np.subtract(end, start)))))
        self.sensors.append(f'<velocimeter name="vel_{name}" site="{name}"/>')
        return (
            f'<geom name="{name}" type="capsule" fromto="{fromto}" size="{radius:.5g}" '
            f'density="{density:.5g}" friction="{friction:.5g} 0.005 0.0001"/>'
            f'<site name="{name}" type="capsule" fromto="{fromto}" size="{radius:.5g}"/>'
        )

    def joint(self, name: str, axis, limits, kp: float) -> str:
        """A hinge joint and its position actuator with the same name."""
        lo, hi = limits
        self.actuators[name] = (
            f'<position name="{name}" joint="{name}" kp="{kp:.5g}" dampratio="1" '
            f'ctrlrange="{lo:.5g} {hi:.5g}"/>'
        )
        ax = " ".join(f"{v:g}" for v in axis)
        return f'<joint name="{name}" axis="{ax}" range="{lo:.5g} {hi:.5g}"/>'


def _leg(mjcf: _Mjcf, body: SalamanderBody, leg: int, parent_radius: float) -> str:
    name, s = LIMB_NAMES[leg], 1.0 if LIMB_IS_LEFT[leg] else -1.0
    (lu, ru), (ll, rl) = body.upper_leg, body.lower_leg
    x = -0.5 * body.link_length
    return (
        f'<body name="{name}_upper" pos="{x:.5g} {s * parent_radius:.5g} 0">'
        + mjcf.joint(f"{name}_yaw", (0, 0, -s), body.yaw_range, body.leg_kp)
        + mjcf.joint(f"{name}_lift", (s, 0, 0), body.lift_range, body.leg_kp)
        + mjcf.link(f"{name}_upper", (0, 0, 0), (0, s * lu, 0), ru, body.leg_density, 1.0)
        + f'<body name="{name}_lower" pos="0 {s * lu:.5g} 0">'
        + mjcf.joint(f"{name}_knee", (s, 0, 0), body.knee_range, body.leg_kp)
        + mjcf.link(
            f"{name}_lower", (0, 0, 0), (0, 0, -ll), rl, body.leg_density, body.foot_friction
        )
        + "</body></body>"
    )


def _animal(mjcf: _Mjcf, body: SalamanderBody) -> str:
    """The kinematic tree, head first; returns the head body's XML."""
    girdles = {body.fore_girdle: (0, 1), body.hind_girdle: (2, 3)}
    xml_open, xml_close = [], []
    for k, radius in enumerate(body.link_radii):
        name = "head" if k == 0 else f"body_{k}"
        pos = "0 0 0" if k == 0 else f"{-body.link_length:.5g} 0 0"
        parts = [f'<body name="{name}" pos="{pos}">']
        if k == 0:
            parts.append('<freejoint name="root"/>')
            parts.append(
                '<camera name="track" mode="trackcom" pos="-0.2 -1.0 0.7" '
                'xyaxes="1 0 0 0 0.57 0.82"/>'
            )
        else:
            limits = (-body.body_range, body.body_range)
            parts.append(mjcf.joint(f"spine_{k}", (0, 0, -1), limits, body.body_kp))
        parts.append(
            mjcf.link(
                name,
                (0, 0, 0),
                (-body.link_length, 0, 0),
                radius,
                body.body_density,
                body.body_friction,
            )
        )
        for leg in girdles.get(k, ()):
            parts.append(_leg(mjcf, body, leg, radius))
        xml_open.append("".join(parts))
        xml_close.append("</body>")
    return "".join(xml_open) + "".join(reversed(xml_close))


def _arena(arena: Arena) -> str:
    depth, top, w = arena.pool_depth, arena.land_height, arena.half_width
    drop = top + depth
    angle = float(np.arctan2(drop, arena.ramp_length))
    half_len = 0.5 * float(np.hypot(drop, arena.ramp_length))
    thickness = RAMP_THICKNESS
    # The ramp's top face runs from (shore_x, land_height) to (pool_x, −pool_depth).
    cx = arena.shore_x + 0.5 * arena.ramp_length - 0.5 * thickness * np.sin(angle)
    cz = top - 0.5 * drop - 0.5 * thickness * np.cos(angle)
    land_cx, land_cz = arena.shore_x - 0.5 * w, 0.5 * (top - depth)
    return (
        f'<geom name="floor" class="terrain" type="plane" '
        f'pos="{arena.pool_x + w:.5g} 0 {-depth:.5g}" size="{w:.5g} {w:.5g} 0.1" material="grid"/>'
        f'<geom name="land" class="terrain" type="box" pos="{land_cx:.5g} 0 {land_cz:.5g}" '
        f'size="{0.5 * w:.5g} {w:.5g} {0.5 * drop:.5g}" material="sand"/>'
        f'<geom name="ramp" class="terrain" type="box" pos="{cx:.5g} 0 {cz:.5g}" '
        f'euler="0 {angle:.6g} 0" size="{half_len:.5g} {w:.5g} {0.5 * thickness:.5g}" '
        f'material="sand"/>'
        f'<geom name="water" class="terrain" type="box" contype="0" conaffinity="0" group="1" '
        f'pos="{arena.shore_x + w:.5g} 0 {-0.5 * depth:.5g}" size="{w:.5g} {w:.5g} '
        f'{0.5 * depth:.5g}" material="water"/>'
    )


def build_mjcf(
    body: SalamanderBody | None = None,
    arena: Arena | None = None,
    timestep: float = 0.005,
    extra: str = "",
) -> tuple[str, list[Link]]:
    """MJCF text of the scene and the animal's links in body-id order (head = body 1).

    ``timestep`` (s) is the physics step; ``implicitfast`` integrates the actuator damping
    implicitly. ``extra``: worldbody elements placed after the animal (a task's markers and
    cameras), so that the animal's body and geom ids do not depend on them.
    """
    body = SalamanderBody() if body is None else body
    arena = Arena() if arena is None else arena
    if not timestep > 0:
        raise ValueError(f"timestep must be > 0 s, got {timestep}")
    mjcf = _Mjcf()
    animal = _animal(mjcf, body)
    xml = f"""<mujoco model="salamander">
<compiler angle="radian" autolimits="true"/>
<option timestep="{timestep:.6g}" integrator="implicitfast"/>
<statistic extent="1" center="0 0 0"/>
<visual><global offwidth="1280" offheight="720"/><quality shadowsize="2048"/></visual>
<default>
  <joint damping="{body.joint_damping:.5g}" armature="{body.armature:.5g}"/>
  <geom contype="1" conaffinity="0" condim="3" rgba="0.2 0.17 0.1 1"/>
  <site group="5"/>
  <default class="terrain">
    <geom contype="0" conaffinity="1" friction="{arena.land_friction:.5g} 0.005 0.0001"
     rgba="0.5 0.5 0.5 1"/>
  </default>
</default>
<asset>
  <texture name="sky" type="skybox" builtin="gradient" rgb1="0.6 0.75 0.9" rgb2="0.1 0.15 0.2"
   width="256" height="256"/>
  <texture name="grid" type="2d" builtin="checker" rgb1="0.25 0.3 0.35" rgb2="0.3 0.35 0.4"
   width="256" height="256"/>
  <material name="grid" texture="grid" texrepeat="20 20" texuniform="true"/>
  <texture name="sand" type="2d" builtin="checker" rgb1="0.85 0.8 0.65" rgb2="0.8 0.75 0.6"
   width="256" height="256"/>
  <material name="sand" texture="sand" texrepeat="10 10" texuniform="true"/>
  <material name="water" rgba="0.2 0.45 0.8 0.3" specular="0" shininess="0" reflectance="0"/>
</asset>
<worldbody>
<light name="sun" pos="0 0 4" dir="0 0.3 -1" directional="true"/>
{_arena(arena)}
{animal}
{extra}
</worldbody>
<actuator>{"".join(mjcf.actuators[name] for name in JOINT_NAMES)}</actuator>
<sensor>{"".join(mjcf.sensors)}</sensor>
</mujoco>"""
    return xml, mjcf.links
