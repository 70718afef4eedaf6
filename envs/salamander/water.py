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
``mj_step2``). No rotational drag. Vectorised over links: about a dozen numpy calls per
physics step on preallocated arrays, no per-link Python loop (link velocities come from one
velocimeter sensor per link).
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np
from stateful_rl.envs.salamander.model import Link

WATER_DENSITY = 1000.0  # kg/m³
MAX_LINK_SPEED = 20.0  # m/s, bound on link speeds used to skip the water model on land


class WaterForces:
    """Drag and buoyancy on the links of one animal in one ``MjData``.

    The links must be bodies ``1..n`` of the model, each with a site ``name`` (local z
    along the link) and a velocimeter ``vel_<name>``, in body-id order, as
    ``model.build_mjcf`` writes them.
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
        self._drag = np.stack([normal, normal, half * axial_drag * np.pi * radius**2], axis=1)
        self._buoyancy = (density * float(np.linalg.norm(model.opt.gravity)) * volume)[:, None]
        self.shore_x = float(shore_x)
        # s = clip(offset − slope z, 0, 1): the submerged fraction, linear in depth.
        self._slope = 0.5 / radius
        self._offset = 0.5 + surface * self._slope
        # Views into MjData that stay valid for its lifetime.
        start = sensor.adr[0]
        self._velocity = data.sensordata[start : start + 3 * n].reshape(n, 3)
        self._position = data.site_xpos[:n]
        self._rotation = data.site_xmat[:n].reshape(n, 3, 3)
        self._up = self._rotation[:, 2, :]  # world z in link coordinates
        self._force = data.xfrc_applied[1 : n + 1, :3][..., None]
        self._local = np.zeros((n, 3))
        self._tmp = np.zeros((n, 3))
        self._wet = np.zeros((n, 1))
        self._in_pool = np.zeros(n)  # 1.0 where x >= shore_x, else 0.0

    def apply(self) -> None:
        """Write the forces for the state computed by ``mj_step1`` into ``xfrc_applied``."""
        wet = self._wet[:, 0]
        np.multiply(self._position[:, 2], -self._slope, out=wet)
        wet += self._offset
        # Clip to [0, in_pool] with two ufuncs: np.clip costs several times more here.
        np.greater_equal(self._position[:, 0], self.shore_x, out=self._in_pool)
        np.minimum(wet, self._in_pool, out=wet)
        np.maximum(wet, 0.0, out=wet)
        local, tmp = self._local, self._tmp
        np.abs(self._velocity, out=local)
        local *= self._velocity
        local *= self._drag
        np.multiply(self._buoyancy, self._up, out=tmp)
        tmp -= local
        tmp *= self._wet
        np.matmul(self._rotation, tmp[..., None], out=self._force)

    def dry(self, margin: float) -> bool:
        """Whether every link is more than ``margin`` (m) inland from the shore (no water)."""
        return bool(self._position[:, 0].max() < self.shore_x - margin)

    def clear(self) -> None:
        """Zero the forces and submerged fractions (the animal is out of the water)."""
        self._force[:] = 0.0
        self._wet[:] = 0.0

    def submerged(self) -> np.ndarray:
        """Submerged fraction of each link at the last ``apply``, shape [n], in [0, 1]."""
        return self._wet[:, 0].copy()


def step(model: mujoco.MjModel, data: mujoco.MjData, water: WaterForces, n: int) -> None:
    """``n`` physics steps, with the water forces recomputed before each one.

    When the whole animal is inland by more than any link can travel in ``n`` steps at
    ``MAX_LINK_SPEED``, the forces are zero and MuJoCo runs the ``n`` steps in C.
    """
    if water.dry(margin=MAX_LINK_SPEED * n * model.opt.timestep):
        water.clear()
        mujoco.mj_step(model, data, n)
        return
    for _ in range(n):
        mujoco.mj_step1(model, data)
        water.apply()
        mujoco.mj_step2(model, data)
