"""Shared physics, control and observation of the salamander environments (task-free base).

Physics: MuJoCo at ``timestep`` (5 ms default, ``implicitfast``), with the water forces of
``water.WaterForces`` recomputed before every physics step, in the compiled loop of
``water.WaterPhysics``. At 5 ms, swimming speeds are within 2.5% and walking speeds within 1%
of those at 2 ms (``tests/test_salamander_physics`` checks it); 2 ms costs about 2× more CPU.

Control: one action every ``frame_skip`` physics steps (8: a 40 ms control period, 25 Hz,
the same as Gymnasium's ``Swimmer-v5``). With CPG control the Ijspeert network
(``cpg.SalamanderCPG``, 2007; or the connectionist ``neural_cpg.NeuralSalamanderCPG``, 2001,
for ``control="neural_cpg"``) is integrated at ``cpg_dt`` (10 ms) inside the control period
and the joint targets are updated after each CPG step.
"""

from __future__ import annotations

import operator
import os
import sys

# Headless rendering: choose EGL before mujoco is imported, unless the user chose a backend.
if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")

from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from stateful_rl.envs.salamander.cpg import BODY_DRIVE, N_OSCILLATORS, MotorMap, SalamanderCPG
from stateful_rl.envs.salamander.model import (
    JOINT_NAMES,
    Arena,
    SalamanderBody,
    build_mjcf,
)
from stateful_rl.envs.salamander.neural_cpg import (
    N_NEURONS,
    NeuralMotorMap,
    NeuralSalamanderCPG,
)
from stateful_rl.envs.salamander.water import WaterForces, WaterPhysics

CONTROLS = ("cpg_discrete", "cpg", "joints", "neural_cpg", "neural_cpg_discrete")
OBSERVATIONS = ("full", "partial")
TURNS = ("left", "straight", "right")


class SalamanderEnv(gym.Env):
    """Base class: a salamander in the land-ramp-pool arena; subclasses define the task.

    Subclasses implement ``_start`` (initial head pose), ``_task_observation`` and
    ``_task_step`` (reward terms and termination) and may override ``_task_reset``.
    The common arguments are documented on each environment's class.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 25}
    default_drive_levels: tuple[float, ...] = (3.5, 4.0, 4.5)
    task_observation_size = 0

    def __init__(
        self,
        control: str = "cpg",
        observation: str = "full",
        drive_levels: tuple[float, ...] | None = None,
        turn_offset: float = 0.25,
        energy_weight: float = 0.1,
        frame_skip: int = 8,
        timestep: float = 0.005,
        cpg_dt: float = 0.01,
        reset_noise_scale: float = 0.05,
        body: SalamanderBody | None = None,
        arena: Arena | None = None,
        motor_map: MotorMap | NeuralMotorMap | None = None,
        render_mode: str | None = None,
        width: int = 480,
        height: int = 360,
    ) -> None:
        if control not in CONTROLS:
            raise ValueError(f"control must be one of {CONTROLS}, got {control!r}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if frame_skip < 1:
            raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
        if not timestep > 0:
            raise ValueError(f"timestep must be > 0 s, got {timestep}")
        steps_per_cpg = cpg_dt / timestep
        if not (cpg_dt > 0 and np.isclose(steps_per_cpg, round(steps_per_cpg))):
            raise ValueError(f"cpg_dt ({cpg_dt}) must be a positive multiple of timestep")
        self.steps_per_cpg = round(steps_per_cpg)
        if frame_skip % self.steps_per_cpg:
            raise ValueError(
                f"frame_skip ({frame_skip}) must be a multiple of cpg_dt / timestep "
                f"({self.steps_per_cpg})"
            )
        levels = self.default_drive_levels if drive_levels is None else tuple(drive_levels)
        if not levels or min(levels) < 0:
            raise ValueError(f"drive_levels must be non-empty and >= 0, got {drive_levels}")
        if turn_offset < 0 or energy_weight < 0 or reset_noise_scale < 0:
            raise ValueError("turn_offset, energy_weight and reset_noise_scale must be >= 0")
        self.control, self.observation = control, observation
        self.drive_levels, self.turn_offset = levels, float(turn_offset)
        self.energy_weight, self.reset_noise_scale = float(energy_weight), reset_noise_scale
        self.frame_skip, self.timestep, self.cpg_dt = frame_skip, timestep, cpg_dt
        self.control_dt = frame_skip * timestep
        self.body = SalamanderBody() if body is None else body
        self.arena = Arena() if arena is None else arena
        neural = control.startswith("neural_cpg")
        if motor_map is None:
            motor_map = NeuralMotorMap.fitted() if neural else MotorMap()
        self.motor_map = motor_map

        xml, self.links = build_mjcf(self.body, self.arena, timestep)
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        self._attach_physics()
        self.cpg = NeuralSalamanderCPG(n=1, dt=cpg_dt) if neural else SalamanderCPG(n=1, dt=cpg_dt)
        joints = [self.model.joint(name) for name in JOINT_NAMES]
        self._qpos_idx = np.array([j.qposadr[0] for j in joints])
        self._qvel_idx = np.array([j.dofadr[0] for j in joints])
        low, high = self.model.actuator_ctrlrange.T
        self._ctrl_center, self._ctrl_half_range = 0.5 * (high + low), 0.5 * (high - low)
        # cpg_discrete: action a → (left, right) drives; turn "left" raises the left drive.
        turn_sign = (1.0, 0.0, -1.0)  # TURNS order
        offsets = [self.turn_offset * t for t in turn_sign]
        self._discrete_drives = np.array([[d + o, d - o] for d in levels for o in offsets])
        self._head = self.model.body("head").id
        self._head_rotation = np.zeros(9)
        self._head_velocity = np.zeros(3)
        self._inverse_quat = np.zeros(4)

        n_joints = len(JOINT_NAMES)
        if control.endswith("discrete"):
            self.action_space = spaces.Discrete(len(levels) * len(TURNS))
        elif control == "joints":
            self.action_space = spaces.Box(-1.0, 1.0, shape=(n_joints,), dtype=np.float32)
        else:
            self.action_space = spaces.Box(0.0, BODY_DRIVE.d_high, shape=(2,), dtype=np.float32)
        size = n_joints + 4 + self.task_observation_size
        if observation == "full":
            cpg_size = {"joints": 0, "cpg": 3 * N_OSCILLATORS, "cpg_discrete": 3 * N_OSCILLATORS}
            size += n_joints + 1 + 6 + cpg_size.get(control, N_NEURONS)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float64)

        self.render_mode = render_mode
        self._renderer = None
        self._render_size = (width, height)
        self._drives = np.zeros(2)
        # Joint control holds one target row for every CPG-step-long slice of the period.
        self._joint_targets = np.zeros((frame_skip // self.steps_per_cpg, n_joints))

    # -- physics accessors -------------------------------------------------------------
    @property
    def com(self) -> np.ndarray:
        """Centre of mass of the animal, world frame, shape [3] (m)."""
        return self.data.subtree_com[self._head].copy()

    @property
    def head_position(self) -> np.ndarray:
        """Head origin (front of the head link), world frame, shape [3] (m)."""
        return self.data.qpos[:3].copy()

    @property
    def head_rotation(self) -> np.ndarray:
        """Head orientation matrix (columns: head axes in the world frame), shape [3, 3]."""
        mujoco.mju_quat2Mat(self._head_rotation, self.data.qpos[3:7])
        return self._head_rotation.reshape(3, 3).copy()

    def to_head_frame(self, point: np.ndarray) -> np.ndarray:
        """A world point in the head frame (x forward, y left), shape [3] (m)."""
        return self.head_rotation.T @ (point - self.head_position)

    def links_in_water(self) -> np.ndarray:
        """Whether each link (``self.links`` order) is at least partly under water, [n] bool."""
        return self.water.submerged() > 0.0

    # -- Gymnasium API -----------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        mujoco.mj_resetData(self.model, self.data)
        x, y, z, yaw = self._start(rng)
        self.data.qpos[:3] = (x, y, z)
        self.data.qpos[3:7] = (np.cos(0.5 * yaw), 0.0, 0.0, np.sin(0.5 * yaw))
        noise = self.reset_noise_scale
        self.data.qpos[self._qpos_idx[:8]] = rng.uniform(-noise, noise, 8)
        self.cpg.reset(rng)
        self.cpg.set_drive(0.0, 0.0)
        self._drives[:] = 0.0
        self._task_reset(rng)
        mujoco.mj_forward(self.model, self.data)
        self.water.apply()
        return self._observation(), self._info(np.zeros(3), 0.0, {})

    def step(self, action):
        drives, targets = self._decode(action)
        com_before = self.com
        substeps = self.frame_skip // self.steps_per_cpg
        if drives is not None:  # the CPG is open loop: all its steps, then one motor map
            targets = self.motor_map(*self.cpg.advance(substeps))[:, 0]
        else:
            self._joint_targets[:] = targets
            targets = self._joint_targets
        # MuJoCo clamps ctrl to each actuator's ctrlrange.
        energy = self.physics.simulate(targets, self.steps_per_cpg, self.cpg_dt)
        com_velocity = (self.com - com_before) / self.control_dt
        power = energy / self.control_dt
        rewards, terminated = self._task_step(com_velocity)
        rewards["reward_energy"] = -self.energy_weight * power
        reward = float(sum(rewards.values()))
        info = self._info(com_velocity, power, rewards)
        return self._observation(), reward, terminated, False, info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array'")
            return None
        if self._renderer is None:
            from gymnasium.envs.mujoco.mujoco_rendering import MujocoRenderer

            width, height = self._render_size
            self._renderer = MujocoRenderer(
                self.model, self.data, width=width, height=height, camera_name="track"
            )
        return self._renderer.render(self.render_mode)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __getstate__(self) -> dict[str, Any]:
        # The water model and the physics loop hold views into MjModel and MjData, and the
        # renderer an OpenGL context: none survives copying; all are rebuilt for the copy.
        return {**self.__dict__, "water": None, "physics": None, "_renderer": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._attach_physics()
        self.water.apply()  # from the copied last state: the same forces and wet links

    def _attach_physics(self) -> None:
        """The water forces and the compiled physics loop on ``self.model``, ``self.data``."""
        self.water = WaterForces(self.model, self.data, self.links, shore_x=self.arena.shore_x)
        self.physics = WaterPhysics(self.model, self.data, self.water, self.links, self.arena)

    # -- internals ---------------------------------------------------------------------
    def _decode(self, action) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Action → (drives [2] or None, joint targets [20] in rad or None)."""
        if self.control == "joints":
            a = np.asarray(action, dtype=float)
            if a.shape != (len(JOINT_NAMES),) or not np.isfinite(a).all():
                raise ValueError(f"joint action must be 20 finite values in [-1, 1], got {a}")
            # Targets beyond [-1, 1] are clamped to the ctrlrange by MuJoCo itself.
            return None, self._ctrl_center + self._ctrl_half_range * a
        if self.control.endswith("discrete"):
            try:
                k = operator.index(action)
            except TypeError:
                k = -1
            if not 0 <= k < len(self._discrete_drives):
                raise ValueError(
                    f"action must be an int in [0, {self.action_space.n}), got {action!r}"
                )
            drives = self._discrete_drives[k]
        else:
            # Drives outside [0, 5] are left to the CPG's saturation (silent oscillators).
            drives = np.asarray(action, dtype=float)
            if drives.shape != (2,):
                raise ValueError(f"cpg action must be 2 drives (left, right), got {action!r}")
        if drives[0] != self._drives[0] or drives[1] != self._drives[1]:
            self.cpg.set_drive(drives[0], drives[1])
            self._drives[:] = drives
        return drives, None

    def _observation(self) -> np.ndarray:
        qpos, qvel = self.data.qpos, self.data.qvel
        parts = [qpos[self._qpos_idx], qpos[3:7]]  # the root (head) quaternion: an IMU
        if self.observation == "full":
            mujoco.mju_negQuat(self._inverse_quat, qpos[3:7])
            mujoco.mju_rotVecQuat(self._head_velocity, qvel[:3], self._inverse_quat)
            parts += [
                qvel[self._qvel_idx],
                qpos[2:3],
                self._head_velocity,  # head linear velocity, head frame (m/s)
                qvel[3:6],  # angular velocity, head frame (rad/s)
            ]
            if self.control in ("cpg", "cpg_discrete"):
                theta = self.cpg.theta[0]
                parts += [np.cos(theta), np.sin(theta), self.cpg.r[0]]
            elif self.control != "joints":
                parts.append(self.cpg.output[0])  # neural CPG: firing rates
        parts.append(self._task_observation())
        return np.concatenate(parts)

    def _info(self, com_velocity: np.ndarray, power: float, rewards: dict) -> dict[str, Any]:
        return {
            **rewards,
            "com_position": self.com,
            "com_velocity": np.asarray(com_velocity, dtype=float),
            "power": power,
            "drives": self._drives.copy(),
            "links_in_water": self.links_in_water(),
            **self._task_info(),
        }

    # -- task hooks --------------------------------------------------------------------
    def _start(self, rng: np.random.Generator) -> tuple[float, float, float, float]:
        """Initial head position (m) and yaw (rad)."""
        raise NotImplementedError

    def _task_reset(self, rng: np.random.Generator) -> None:
        """Sample task state (goals) after the animal is placed."""

    def _task_observation(self) -> np.ndarray:
        """Task part of the observation, shape [task_observation_size]."""
        return np.zeros(0)

    def _task_step(self, com_velocity: np.ndarray) -> tuple[dict[str, float], bool]:
        """Reward terms (keys ``reward_*``) and whether the episode terminated."""
        raise NotImplementedError

    def _task_info(self) -> dict[str, Any]:
        """Task entries of ``info`` (hidden true state such as goals)."""
        return {}
