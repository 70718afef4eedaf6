"""Physics, control, observation and episode logic of the salamander environments, written
once for a batch of N animals: the single environment is a batch of one, the native vector
environment a batch of N, so both run the same code and give the same trajectories.

Physics: MuJoCo at ``timestep`` (5 ms default, ``implicitfast``), with the water forces of
``water.WaterForces`` recomputed before every physics step, in the physics loop of
``water.WaterPhysics`` (one call per control step for all N animals). At 5 ms, swimming and
walking speeds agree with those at 2 ms within a few per cent
(tests/envs/test_salamander_physics checks it).

Control: one action every ``frame_skip`` physics steps (8: a 40 ms control period, 25 Hz,
the same as Gymnasium's ``Swimmer-v5``). With CPG control the Ijspeert network (the 2007
phase oscillators ``cpg.SalamanderCPG``, or for ``control="neural_cpg*"`` the 2001
connectionist ``neural_cpg.NeuralSalamanderCPG``, batched over the N animals) is integrated at
``cpg_dt`` (10 ms) inside the control period and the joint targets are updated after each CPG
step.

Every per-animal formula below is element-wise over the batch (no matrix products whose
rounding could depend on N), so animal i of a batch is bit-identical to a batch of one.
"""

from __future__ import annotations

import os
import sys

# Headless rendering: choose EGL before mujoco is imported, unless the user chose a backend.
if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")

import dataclasses
import operator
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from stateful_rl.envs.salamander.cpg import (
    BODY_DRIVE,
    LIMB_DRIVE,
    N_OSCILLATORS,
    N_SEGMENTS,
    SalamanderCPG,
)
from stateful_rl.envs.salamander.frames import body_state, transpose_times
from stateful_rl.envs.salamander.model import JOINT_NAMES, build_mjcf
from stateful_rl.envs.salamander.neural_cpg import N_NEURONS, NeuralSalamanderCPG
from stateful_rl.envs.salamander.settings import SalamanderSettings
from stateful_rl.envs.salamander.water import WaterForces, WaterPhysics
from stateful_rl.envs.vector import NativeVectorEnv, check_actions

N_JOINTS = len(JOINT_NAMES)
SETTINGS = frozenset(f.name for f in dataclasses.fields(SalamanderSettings))


def discrete_drives(settings: SalamanderSettings) -> NDArray[np.float64]:
    """``cpg_discrete``'s table: action ``a`` → (left, right) drives, shape [3 L, 2], for
    level ``drive_levels[a // 3]`` and turn ``TURNS[a % 3]``.

    ``"offset"``: a turn adds ``±turn_offset`` to the left drive and ``∓turn_offset`` to the
    right one. ``"sharp"``: a swimming level d (above the limbs' range, d > 3) turns left
    with (d, 0): the right side falls silent and the left body wave curls the animal to the
    left; a walking level d turns left with (5, d): the left limbs fall silent (their
    drive is above their range) and the left body bends at swimming amplitude while the right
    limbs keep walking. Right turns mirror the pairs.
    """
    rows = []
    for d in settings.drive_levels:
        if settings.turn_style == "offset":
            o = settings.turn_offset
            left, right = (d + o, d - o), (d - o, d + o)
        elif d > LIMB_DRIVE.d_high:
            left, right = (d, 0.0), (0.0, d)
        else:
            left, right = (BODY_DRIVE.d_high, d), (d, BODY_DRIVE.d_high)
        rows += [left, (d, d), right]
    return np.array(rows)


class SalamanderTask:
    """What an environment asks of its N animals: start pose, task state, observation,
    rewards, termination and info, as arrays with a leading axis of size N.

    Subclasses set ``observation_size``, ``default_drive_levels`` and ``reward_names`` (the
    keys ``rewards`` returns), implement ``start`` and ``rewards``, and may override
    ``reset``, ``observation``, ``info``, ``scene_xml`` and ``camera`` (what renders the
    episode). Their keyword arguments are the task's
    environment arguments, checked in ``__init__``; ``animals`` is the batch they act on, of
    which ``__init__`` may use ``n`` and ``settings`` only (the model is built after it).
    """

    observation_size: ClassVar[int] = 0
    default_drive_levels: ClassVar[tuple[float, ...]] = (3.5, 4.0, 4.5)
    reward_names: ClassVar[tuple[str, ...]] = ()
    camera: ClassVar[str] = "track"  # the model camera that renders

    def __init__(self, animals: SalamanderBatch) -> None:
        self.animals = animals

    def start(self, rng: np.random.Generator) -> tuple[float, float, float, float]:
        """Initial head position (m) and yaw (rad) of one animal."""
        raise NotImplementedError

    def scene_xml(self) -> str:
        """MJCF worldbody elements the task adds after the animal: visual markers (geoms
        that collide with nothing) and cameras, never anything the physics feels."""
        return ""

    def reset(self, i: int, rng: np.random.Generator) -> None:
        """Sample the task state (goals) of animal ``i`` after it is placed."""

    def observation(self) -> NDArray:
        """Task part of the observations, [N, observation_size]."""
        return np.zeros((self.animals.n, 0))

    def rewards(self, com_velocity: NDArray) -> tuple[dict[str, NDArray], NDArray[np.bool_]]:
        """Reward terms (keys ``reward_*``, each [N]) and termination [N] after a step in
        which the centres of mass moved at ``com_velocity`` [N, 3] (m/s)."""
        raise NotImplementedError

    def info(self) -> dict[str, NDArray]:
        """Task entries of ``info`` (hidden true state such as goals), each [N, ...]."""
        return {}


class SalamanderBatch:
    """N salamanders, one ``MjData`` each of one ``MjModel``, and their task.

    ``kwargs`` are the environment's arguments: those of ``SalamanderSettings`` and those
    of ``task_class``. State per animal (rows): ``qpos`` [N, nq], ``qvel`` [N, nv],
    ``com`` [N, 3] (m), ``rotation`` [N, 9] (head orientation, row-major), ``wet`` [N, 17]
    (submerged fraction per link), ``drives`` [N, 2], ``time`` [N] (s since the reset);
    after each ``step``: ``reward``, ``terminated``, ``reward_terms``, ``com_velocity``,
    ``power``.
    """

    def __init__(self, n: int, task_class: type[SalamanderTask], kwargs: dict[str, Any]) -> None:
        if n < 1:
            raise ValueError(f"need at least one animal, got {n}")
        settings = {k: v for k, v in kwargs.items() if k in SETTINGS}
        settings.setdefault("drive_levels", task_class.default_drive_levels)
        self.settings = s = SalamanderSettings(**settings)
        self.n = n
        self.control_dt = s.control_dt
        # The task checks its arguments before the model is built (it may not touch it yet).
        self.task = task_class(self, **{k: v for k, v in kwargs.items() if k not in SETTINGS})
        xml, self.links = build_mjcf(s.body, s.arena, s.timestep, self.task.scene_xml())
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.datas = [mujoco.MjData(self.model) for _ in range(n)]
        self.wet = np.zeros((n, len(self.links)))
        self._attach_physics()
        joints = [self.model.joint(name) for name in JOINT_NAMES]
        self._qpos_idx = np.array([j.qposadr[0] for j in joints])
        self._qvel_idx = np.array([j.dofadr[0] for j in joints])
        low, high = self.model.actuator_ctrlrange.T
        self._ctrl_center, self._ctrl_half_range = 0.5 * (high + low), 0.5 * (high - low)
        self._head = self.model.body("head").id
        self.drives = np.zeros((n, 2))
        self.discrete_drives = discrete_drives(s)
        self._build_cpg()
        self.qpos = np.zeros((n, self.model.nq))
        self.qvel = np.zeros((n, self.model.nv))
        self.com = np.zeros((n, 3))
        self.rotation = np.zeros((n, 9))
        self.time = np.zeros(n)
        self.com_velocity = np.zeros((n, 3))
        self.power = np.zeros(n)
        self.reward = np.zeros(n)
        self.terminated = np.zeros(n, dtype=bool)
        self._all = np.ones(n, dtype=bool)
        self._joint_targets = np.zeros((n, s.cpg_steps, N_JOINTS))
        self._renderers: dict[int, Any] = {}

        self.action_space: spaces.Discrete | spaces.Box
        if s.discrete:
            self.action_space = spaces.Discrete(len(self.discrete_drives))
        elif s.control == "joints":
            self.action_space = spaces.Box(-1.0, 1.0, shape=(N_JOINTS,), dtype=np.float32)
        else:
            self.action_space = spaces.Box(0.0, BODY_DRIVE.d_high, shape=(2,), dtype=np.float32)
        names = (*task_class.reward_names, "reward_energy")
        self.reward_terms = {name: np.zeros(n) for name in names}
        size = N_JOINTS + 4 + task_class.observation_size
        if s.observation == "full":
            size += N_JOINTS + 1 + 6 + (self.cpg_observation_size if s.control != "joints" else 0)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float64)

    # -- physics ------------------------------------------------------------------------
    def _attach_physics(self) -> None:
        """Water forces and the physics loop on the model and data (views into both)."""
        s = self.settings
        self.waters = [
            WaterForces(
                self.model,
                data,
                self.links,
                shore_x=s.arena.shore_x,
                rotational_drag=s.rotational_drag,
                wet=self.wet[i],
            )
            for i, data in enumerate(self.datas)
        ]
        self.physics = WaterPhysics(self.model, self.datas, self.waters, self.links, s.arena)

    def _gather(self, i: int) -> None:
        """Copy animal ``i``'s state from its ``MjData`` into the batch rows."""
        data = self.datas[i]
        self.qpos[i] = data.qpos
        self.qvel[i] = data.qvel
        self.com[i] = data.subtree_com[self._head]
        mujoco.mju_quat2Mat(self.rotation[i], data.qpos[3:7])
        self.time[i] = data.time

    def to_head_frame(self, points: NDArray) -> NDArray:
        """World points [N, 3] in the head frames (x forward, y left), [N, 3] (m)."""
        return transpose_times(self.rotation, points - self.qpos[:, :3])

    # -- episode ------------------------------------------------------------------------
    def reset(self, i: int, rng: np.random.Generator) -> None:
        """Start a new episode for animal ``i``, drawing from ``rng``."""
        s, data = self.settings, self.datas[i]
        mujoco.mj_resetData(self.model, data)
        x, y, z, yaw = self.task.start(rng)
        data.qpos[:3] = (x, y, z)
        data.qpos[3:7] = (np.cos(0.5 * yaw), 0.0, 0.0, np.sin(0.5 * yaw))
        noise = s.reset_noise_scale
        data.qpos[self._qpos_idx[:N_SEGMENTS]] = rng.uniform(-noise, noise, N_SEGMENTS)
        if s.start_posture == "folded":  # as the controller holds them at drive 0: no kick
            data.qpos[self._qpos_idx[N_SEGMENTS:]] = self._rest_legs
        self._reset_cpg(i, rng)
        self.task.reset(i, rng)
        mujoco.mj_forward(self.model, data)
        self.waters[i].apply()
        self._gather(i)
        self.com_velocity[i] = 0.0
        self.power[i] = 0.0
        for term in self.reward_terms.values():
            term[i] = 0.0

    def check_actions(self, actions: Any) -> NDArray:
        """``actions`` for the N animals as an array ([N] ints or [N, 2] / [N, 20] floats),
        else ``ValueError``."""
        space = self.action_space
        if isinstance(space, spaces.Discrete):  # settings.discrete
            return check_actions(actions, self.n, int(space.n))
        actions = np.asarray(actions, dtype=float)
        size = space.shape[0]
        if actions.shape != (self.n, size) or not np.isfinite(actions).all():
            what = "drives (left, right)" if size == 2 else "joint targets in [-1, 1]"
            raise ValueError(
                f"actions must be {size} finite {what} per animal, shape ({self.n}, {size}); "
                f"got {actions!r}"
            )
        return actions

    def step(self, actions: NDArray, active: NDArray[np.bool_] | None = None) -> None:
        """One control step of the animals where ``active`` [N] is set (all by default), with
        checked ``actions`` (``check_actions``); then rewards and termination for all rows."""
        active = self._all if active is None else active
        s = self.settings
        if s.control == "joints":
            # Targets beyond [-1, 1] are clamped to each actuator's ctrlrange by MuJoCo itself;
            # the same row for every CPG-step-long slice of the period.
            targets = self._joint_targets
            targets[:] = (self._ctrl_center + self._ctrl_half_range * actions)[:, None]
        else:
            targets = self._cpg_targets(actions)
        com_before = self.com.copy()
        energy = self.physics.simulate(targets, s.steps_per_cpg, s.cpg_dt, active)
        for i in range(self.n) if active is self._all else np.flatnonzero(active):
            self._gather(int(i))
        self.com_velocity = (self.com - com_before) / self.control_dt
        self.power = energy / self.control_dt
        terms, self.terminated = self.task.rewards(self.com_velocity)
        terms["reward_energy"] = -s.energy_weight * self.power
        self.reward_terms = terms
        # In the terms' order, from 0: as for one animal.
        self.reward = sum(terms.values(), np.zeros(self.n))

    def observe(self, rewards: bool = True) -> tuple[NDArray, dict[str, NDArray]]:
        """Observations [N, size] and ``info`` (each entry [N, ...]; the reward terms of the
        last step only with ``rewards``)."""
        s = self.settings
        obs = np.empty((self.n, self.observation_space.shape[0]))
        full = s.observation == "full"
        body_state(self.qpos, self.qvel, self._qpos_idx, self._qvel_idx, full, obs, s.compass)
        if full and s.control != "joints":
            k = 2 * N_JOINTS + 11
            self._cpg_observation(obs[:, k : k + self.cpg_observation_size])
        if self.task.observation_size:
            obs[:, -self.task.observation_size :] = self.task.observation()
        terms = {key: term.copy() for key, term in self.reward_terms.items()} if rewards else {}
        info = {
            **terms,
            "com_position": self.com.copy(),
            "com_velocity": self.com_velocity.copy(),
            "power": self.power.copy(),
            "drives": self.drives.copy(),
            "links_in_water": self.wet > 0.0,
            **self.task.info(),
        }
        return obs, info

    # -- CPG: network, drives → joint targets, observation -------------------------------
    # Everything that depends on the kind of CPG lives here (another network replaces these).
    def _build_cpg(self) -> None:
        """The CPG of every animal (``self.cpg``), its motor map and the legs' rest posture
        (the motor map's output for a silent network: folded back)."""
        s = self.settings
        self.cpg: SalamanderCPG | NeuralSalamanderCPG
        if s.neural:
            self.cpg = NeuralSalamanderCPG(n=self.n, dt=s.cpg_dt)
            self.cpg_observation_size = n_outputs = N_NEURONS
        else:
            self.cpg = SalamanderCPG(n=self.n, dt=s.cpg_dt)
            self.cpg_observation_size, n_outputs = 3 * N_OSCILLATORS, N_OSCILLATORS
        assert s.motor_map is not None  # the settings fill in the control's default
        self.motor_map = s.motor_map
        silent = np.zeros((1, n_outputs))
        self._rest_legs = self.motor_map(silent, silent)[0, N_SEGMENTS:]

    def _reset_cpg(self, i: int, rng: np.random.Generator) -> None:
        """Animal ``i``'s CPG: a random start from ``rng`` (2007: phases, zero amplitudes;
        connectionist: excitatory states) and zero drives."""
        self.cpg.reset(rng, index=i)
        self.drives[i] = 0.0
        self.cpg.set_drive(self.drives[:, 0], self.drives[:, 1])

    def _cpg_targets(self, actions: NDArray) -> NDArray:
        """Joint targets [N, cpg_steps, 20] (rad) from the drives the actions ask for."""
        if self.settings.discrete:
            drives = self.discrete_drives[actions]
        else:
            drives = actions  # outside [0, 5] the CPG's saturation silences the oscillators
        if (drives != self.drives).any():
            self.cpg.set_drive(drives[:, 0], drives[:, 1])
            self.drives[:] = drives
        # The CPG is open loop: all its steps of the period, then one motor map call.
        targets = self.motor_map(*self.cpg.advance(self.settings.cpg_steps))
        return np.ascontiguousarray(targets.transpose(1, 0, 2))

    def _cpg_observation(self, out: NDArray) -> None:
        """The CPG state into ``out`` [N, cpg_observation_size]: cos θ, sin θ, r (2007), or
        the firing rates of the neurons (connectionist)."""
        cpg = self.cpg
        if isinstance(cpg, NeuralSalamanderCPG):  # settings.neural
            out[:] = cpg.output
            return
        theta = cpg.theta
        np.cos(theta, out=out[:, :N_OSCILLATORS])
        np.sin(theta, out=out[:, N_OSCILLATORS : 2 * N_OSCILLATORS])
        out[:, 2 * N_OSCILLATORS :] = cpg.r

    # -- rendering and copies -----------------------------------------------------------
    def render(self, i: int) -> NDArray[np.uint8]:
        """Animal ``i`` seen by its task's camera, [height, width, 3]."""
        if i not in self._renderers:
            # Gymnasium's renderer picks the OpenGL backend when it is built, not when mujoco
            # is imported; one per animal, as it is bound to one MjData.
            from gymnasium.envs.mujoco.mujoco_rendering import MujocoRenderer

            s = self.settings
            self._renderers[i] = MujocoRenderer(
                self.model,
                self.datas[i],
                width=s.width,
                height=s.height,
                camera_name=self.task.camera,
            )
        return self._renderers[i].render("rgb_array")

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers = {}

    def __getstate__(self) -> dict[str, Any]:
        # The water forces and the physics loop hold views into MjModel and MjData, and the
        # renderer an OpenGL context: none survives copying; all are rebuilt for the copy.
        return {**self.__dict__, "waters": None, "physics": None, "_renderers": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._attach_physics()


def real_time(metadata: dict[str, Any], control_dt: float) -> dict[str, Any]:
    """``metadata`` with ``render_fps`` one frame per control step (s): videos of rendered
    steps then play in real time at any ``frame_skip``."""
    return {**metadata, "render_fps": round(1.0 / control_dt, 6)}


def _row(value: NDArray) -> Any:
    """Row 0 of a batch entry: a Python float or bool for scalars, else an array."""
    return value.item(0) if value.ndim == 1 else value[0]


class SalamanderEnv(gym.Env):
    """One salamander: a ``SalamanderBatch`` of one. Subclasses set ``task_class``; the
    arguments are documented on each environment's class."""

    # An instance attribute, as Gymnasium declares it: an env may replace its own.
    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 25}  # noqa: RUF012
    task_class: ClassVar[type[SalamanderTask]]

    def __init__(self, **kwargs: Any) -> None:
        self.animals = SalamanderBatch(1, self.task_class, kwargs)
        self.action_space = self.animals.action_space
        self.observation_space = self.animals.observation_space
        self.render_mode = self.animals.settings.render_mode
        self.metadata = real_time(self.metadata, self.animals.control_dt)

    # Accessors of the one animal's physics and task.
    model = property(lambda self: self.animals.model)
    data = property(lambda self: self.animals.datas[0])
    water = property(lambda self: self.animals.waters[0])
    physics = property(lambda self: self.animals.physics)
    task = property(lambda self: self.animals.task)
    settings = property(lambda self: self.animals.settings)
    control_dt = property(lambda self: self.animals.control_dt)

    @property
    def com(self) -> NDArray:
        """Centre of mass of the animal, world frame, shape [3] (m)."""
        return self.animals.com[0].copy()

    @property
    def head_position(self) -> NDArray:
        """Head origin (front of the head link), world frame, shape [3] (m)."""
        return self.animals.qpos[0, :3].copy()

    @property
    def head_rotation(self) -> NDArray:
        """Head orientation matrix (columns: head axes in the world frame), shape [3, 3]."""
        return self.animals.rotation[0].reshape(3, 3).copy()

    def links_in_water(self) -> NDArray[np.bool_]:
        """Whether each link (``model.build_mjcf`` order) is at least partly under water."""
        return self.animals.wet[0] > 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.animals.reset(0, self.np_random)
        obs, info = self.animals.observe(rewards=False)
        return obs[0], {key: _row(value) for key, value in info.items()}

    def step(self, action):
        animals = self.animals
        if animals.settings.discrete:
            try:
                k = operator.index(action)
            except TypeError:
                k = -1
            if not 0 <= k < animals.action_space.n:
                raise ValueError(
                    f"action must be an int in [0, {animals.action_space.n}), got {action!r}"
                )
            actions = np.array([k])
        else:
            actions = animals.check_actions(np.asarray(action, dtype=float)[None])
        animals.step(actions)
        obs, info = animals.observe()
        info = {key: _row(value) for key, value in info.items()}
        return obs[0], float(animals.reward[0]), bool(animals.terminated[0]), False, info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array'")
            return None
        return self.animals.render(0)

    def close(self) -> None:
        self.animals.close()


def make_env(env_id: str, **kwargs: Any) -> SalamanderEnv:
    """The salamander environment ``env_id`` without its wrappers, for tools that read its
    physics; ``ValueError`` if ``env_id`` names another kind of environment."""
    env = gym.make(env_id, **kwargs).unwrapped
    if not isinstance(env, SalamanderEnv):
        raise ValueError(f"env_id must name a salamander environment, got {env_id!r}")
    return env


class SalamanderVectorEnv(NativeVectorEnv):
    """``num_envs`` salamanders stepped together: one ``MjModel``, one ``MjData`` each, and
    one physics-loop call per step for all of them. Autoreset and seeding as
    ``NativeVectorEnv`` (``NEXT_STEP``; sub-env ``i`` equals a single env seeded
    ``seed + i``); subclasses set ``task_class``."""

    metadata: dict[str, Any] = NativeVectorEnv.metadata | {"render_fps": 25}
    task_class: ClassVar[type[SalamanderTask]]

    def __init__(self, num_envs: int, max_episode_steps: int | None = None, **kwargs: Any):
        self.animals = SalamanderBatch(num_envs, self.task_class, kwargs)
        super().__init__(
            num_envs,
            max_episode_steps,
            self.animals.settings.render_mode,
            self.animals.observation_space,
            self.animals.action_space,
        )
        self.metadata = real_time(self.metadata, self.animals.control_dt)

    def _check_actions(self, actions: Any) -> NDArray:
        return self.animals.check_actions(actions)

    def _reset_env(self, i: int) -> None:
        self.animals.reset(i, self._rngs[i])

    def _advance(self, actions: NDArray, active: NDArray[np.bool_]) -> None:
        self.animals.step(actions, active)

    def _observe(self) -> tuple[NDArray, dict[str, Any]]:
        return self.animals.observe()

    def _outcome(self, info: dict[str, Any]) -> tuple[NDArray, NDArray[np.bool_]]:
        return self.animals.reward, self.animals.terminated

    def render(self) -> tuple[NDArray[np.uint8], ...] | None:
        """One ``rgb_array`` frame per sub-env, each from its tracking camera."""
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode='rgb_array'")
            return None
        return tuple(self.animals.render(i) for i in range(self.num_envs))

    def close_extras(self, **kwargs: Any) -> None:
        self.animals.close()
