"""OccludedTracking: follow a target that disappears behind occluders."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from stateful_rl.envs.kalman import KalmanFilter, reflect_state
from stateful_rl.envs.kernels import clip, reflect
from stateful_rl.envs.vector import (
    NativeVectorEnv,
    cannot_render,
    check_action,
    check_integer,
    check_number,
    check_render_mode,
    upscale,
)

DT = 0.1  # seconds per step
CHUNK = 256  # steps of noise and occlusion drawn at once (no generator call per step)
SIZE = 48  # pixel observation side
SCALE = 4  # render upscaling
DYNAMICS = ("bounce", "oscillator", "random_accel")
OCCLUDERS = ("both", "bands", "windows", "none")
OBS_TYPES = ("vector", "pixels")
MAX_SPEED = 2.0 / DT  # units/s: one step crosses at most the arena, so one reflection suffices
BAND_COLOR, WINDOW_COLOR = 90, 70
TRACKER_COLOR, TARGET_COLOR, HIDDEN_COLOR = (60, 140, 255), (255, 200, 40), (120, 95, 20)


@dataclass(frozen=True)
class TrackingTask:
    """Validated parameters, dynamics and drawing shared by the single and vector envs.

    See :class:`OccludedTrackingEnv` for the meaning of every field.
    """

    dim: int = 1
    dynamics: str = "bounce"
    occluders: str = "windows"
    bands: tuple[tuple[float, float], ...] = ((-0.25, 0.25),)
    window_rate: float = 0.12
    window_length: tuple[int, int] = (5, 20)
    noise: float = 0.01
    process_noise: float = 0.05
    target_speed: tuple[float, float] = (0.2, 0.4)
    tracker_speed: float = 0.5
    omega: float = 2 * math.pi / 5
    damping: float = 0.1
    obs_type: str = "vector"

    def __post_init__(self) -> None:
        # Lists (from YAML or JSON configs) become tuples: the task is frozen and hashable.
        object.__setattr__(self, "bands", tuple(tuple(b) for b in self.bands))
        for name in ("window_length", "target_speed"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        whole = isinstance(self.dim, int | np.integer) and not isinstance(self.dim, bool)
        checks = [
            (whole and self.dim in (1, 2), f"dim must be 1 or 2, got {self.dim!r}"),
            (self.dynamics in DYNAMICS, f"dynamics must be one of {DYNAMICS}"),
            (self.occluders in OCCLUDERS, f"occluders must be one of {OCCLUDERS}"),
            (self.obs_type in OBS_TYPES, f"obs_type must be one of {OBS_TYPES}"),
            (
                len(self.window_length) == 2 and len(self.target_speed) == 2,
                "window_length and target_speed must be (min, max) pairs, got "
                f"{self.window_length} and {self.target_speed}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        # Every number finite and in range: an infinite speed or noise would turn the
        # observations and rewards into NaN.
        check_number("noise", self.noise, 0.0)
        check_number("process_noise", self.process_noise, 0.0)
        check_number("window_rate", self.window_rate, 0.0, 1.0)
        low_length = check_integer("window_length[0]", self.window_length[0], 1)
        check_integer("window_length[1]", self.window_length[1], low_length)
        for low, high in self.bands:
            check_number("bands low", low, -1.0, 1.0)
            check_number("bands high", high, low, 1.0, open_low=True)
        check_number("tracker_speed", self.tracker_speed, 0.0, MAX_SPEED, open_low=True)
        for k, speed in enumerate(self.target_speed):
            check_number(f"target_speed[{k}]", speed, 0.0, self.tracker_speed)
        if not 0 < self.target_speed[0] <= self.target_speed[1] < self.tracker_speed:
            raise ValueError(
                "need 0 < target_speed[0] <= target_speed[1] < tracker_speed, got "
                f"{self.target_speed} and {self.tracker_speed}"
            )
        check_number("omega", self.omega, 0.0, open_low=True)
        check_number("damping", self.damping, 0.0, open_low=True)
        if self.dynamics == "oscillator" and self.spectral_radius >= 1:
            raise ValueError(
                f"forward Euler with dt={DT} amplifies this oscillator: spectral radius "
                f"{self.spectral_radius:.4f} >= 1 (underdamped: need omega * dt < 2 * damping)"
            )

    @property
    def spectral_radius(self) -> float:
        """max |eig(I + Δt A)| of the oscillator: sqrt(1 - 2Δtζω + Δt²ω²) when underdamped
        (< 1 iff Δtω < 2ζ); taken from the matrix, so it is right when overdamped too."""
        return float(np.abs(np.linalg.eigvals(self.transition)).max())

    @cached_property
    def active_bands(self) -> tuple[tuple[float, float], ...]:
        return self.bands if self.occluders in ("both", "bands") else ()

    @cached_property
    def max_distance(self) -> float:
        """Largest tracker-target distance (the arena diagonal), normalises the reward."""
        return 2 * math.sqrt(self.dim)

    @cached_property
    def moves(self) -> NDArray[np.float64]:
        """``[n_actions, dim]`` tracker displacement per action (see the action table)."""
        step = self.tracker_speed * DT
        if self.dim == 1:
            return np.array([[-step], [0.0], [step]])
        return np.array([[0, 0], [step, 0], [-step, 0], [0, step], [0, -step]], dtype=float)

    def advance(self, pos, vel, noise):
        """One step of the target's dynamics (floats or arrays); ``noise`` hits velocity."""
        if self.dynamics == "oscillator":
            # x_{t+1} = (I + Δt A) x_t + w_t with A = [[0, 1], [-ω², -2ζω]] per axis.
            acc = -(self.omega**2) * pos - 2 * self.damping * self.omega * vel
            return pos + DT * vel, vel + DT * acc + noise
        pos, vel = reflect(pos + DT * vel, vel, -1.0, 1.0)
        if self.dynamics == "random_accel":
            vel = clip(vel + noise, -self.target_speed[1], self.target_speed[1])
        return pos, vel

    def in_band(self, x):
        """Whether horizontal position ``x`` (float or array) lies behind a band (plain
        ``False`` when there are no bands: combine it with ``|``, never ``~``)."""
        hidden = False
        for low, high in self.active_bands:
            hidden = hidden | ((x >= low) & (x <= high))
        return hidden

    @property
    def start_half_width(self) -> float:
        """The start position is uniform in ``[-w, w]^dim`` with this ``w``."""
        return 0.7 if self.dynamics == "oscillator" else 0.9

    def sample_start(self, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
        """Initial target ``(position[dim], velocity[dim])``."""
        pos, vel = self.sample_starts(rng, 1)
        return pos[0], vel[0]

    def sample_starts(self, rng: np.random.Generator, n: int) -> tuple[NDArray, NDArray]:
        """``n`` initial target states: positions and velocities ``[n, dim]`` (``n = 1``
        draws the same random numbers in the same order as one :meth:`sample_start`)."""
        half = self.start_half_width
        if self.dynamics == "oscillator":
            pos = rng.uniform(-half, half, (n, self.dim))
            return pos, self.omega * rng.uniform(-0.5, 0.5, (n, self.dim))
        pos = rng.uniform(-half, half, (n, self.dim))
        speed = rng.uniform(*self.target_speed, (n, 1))
        if self.dim == 1:
            return pos, speed * (2 * rng.integers(2, size=(n, 1)) - 1)
        angle = rng.uniform(0, 2 * math.pi, n)
        return pos, speed * np.stack([np.cos(angle), np.sin(angle)], axis=1)

    def sample_chunk(self, rng: np.random.Generator) -> tuple[NDArray, NDArray, NDArray]:
        """Next ``CHUNK`` steps of observation noise, process noise and window occlusion."""
        obs_noise = rng.normal(0.0, self.noise, (CHUNK, self.dim))
        if self.dynamics == "bounce":
            proc_noise = np.zeros((CHUNK, self.dim))
        else:
            proc_noise = rng.normal(0.0, self.process_noise, (CHUNK, self.dim))
        window = np.zeros(CHUNK, dtype=bool)
        if self.occluders in ("both", "windows"):
            # A window starts with probability window_rate per step and lasts a uniform
            # number of steps; a step is occluded while any started window is open.
            steps = np.arange(CHUNK)
            starts = rng.random(CHUNK) < self.window_rate
            lengths = rng.integers(self.window_length[0], self.window_length[1] + 1, CHUNK)
            window = steps < np.maximum.accumulate(np.where(starts, steps + lengths, 0))
        return obs_noise, proc_noise, window

    def simulate(
        self, steps: int, batch: int, seed: int = 0
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        """Target trajectories without an agent, e.g. for sequence-model benchmarks.

        Returns ``states[T, B, 2 dim]`` (``[position, velocity]``), the observed positions
        ``obs[T, B, dim]`` (noisy, clipped, 0 when occluded, as in the env) and
        ``visible[T, B]``. Batched: one :meth:`advance` call per step.
        """
        rng = np.random.default_rng(seed)
        starts = [self.sample_start(rng) for _ in range(batch)]
        pos, vel = (np.array(x) for x in zip(*starts, strict=True))
        n_chunks = -(-steps // CHUNK)
        chunks = [[self.sample_chunk(rng) for _ in range(n_chunks)] for _ in range(batch)]
        obs_noise, proc_noise, window = (
            np.stack([np.concatenate([c[k] for c in seq])[:steps] for seq in chunks], axis=1)
            for k in range(3)
        )
        states = np.empty((steps, batch, 2 * self.dim))
        for t in range(steps):
            states[t] = np.hstack([pos, vel])
            pos, vel = self.advance(pos, vel, proc_noise[t])
        visible = ~(window | self.in_band(states[..., 0]))
        seen = clip(states[..., : self.dim] + obs_noise, -1.0, 1.0)
        return states, np.where(visible[..., None], seen, 0.0), visible

    # --- what the reference policies need (state layout [position, velocity]) ---
    @cached_property
    def transition(self) -> NDArray[np.float64]:
        """``F[2 dim, 2 dim]``: the noise-free linear part of :meth:`advance`."""
        eye, zero = np.eye(self.dim), np.zeros((self.dim, self.dim))
        if self.dynamics == "oscillator":
            k, c = self.omega**2, 2 * self.damping * self.omega
            return np.block([[eye, DT * eye], [-DT * k * eye, (1 - DT * c) * eye]])
        return np.block([[eye, DT * eye], [zero, eye]])

    def kalman_filter(self) -> KalmanFilter:
        """Kalman filter with the true dynamics model of the target."""
        eye, zero = np.eye(self.dim), np.zeros((self.dim, self.dim))
        pos_var = self.start_half_width**2 / 3
        if self.dynamics == "oscillator":
            vel_var = (0.5 * self.omega) ** 2 / 3
        else:
            low, high = self.target_speed
            vel_var = (low**2 + low * high + high**2) / 3 / self.dim
        vel_noise = 0.0 if self.dynamics == "bounce" else self.process_noise**2
        if self.dynamics != "oscillator":
            # Floor: a reflection the filter times a step off (its one nonlinearity) must
            # not lock in a wrong velocity; 1e-4 was best of 1e-10..1e-3 on filtering error.
            vel_noise += 1e-4
        return KalmanFilter(
            transition=self.transition,
            observation=np.hstack([eye, zero]),
            process_cov=np.diag([1e-10] * self.dim + [vel_noise + 1e-10] * self.dim),
            observation_cov=max(self.noise**2, 1e-8) * eye,
            initial_mean=np.zeros(2 * self.dim),
            initial_cov=np.diag([pos_var] * self.dim + [vel_var] * self.dim),
            walls=None if self.dynamics == "oscillator" else (-1.0, 1.0),
        )

    def split_obs(self, obs: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        """``obs[B, 2 dim + 1]`` -> tracker ``[B, dim]``, seen target ``[B, dim]``,
        visible ``[B]``."""
        d = self.dim
        return obs[:, :d], obs[:, d : 2 * d], obs[:, 2 * d] > 0.5

    def true_state(self, info: dict[str, Any]) -> NDArray:
        """``[B, 2 dim]`` true target state from a vector env's ``info``."""
        return info["target_state"]

    def goal(self, state: NDArray, steps: NDArray) -> NDArray:
        """Where to move: the target position one step ahead, predicted from ``state[B, 2 dim]``."""
        ahead = state @ self.transition.T
        if self.dynamics != "oscillator":
            ahead = reflect_state(ahead, -1.0, 1.0)
        return ahead[:, : self.dim]

    # --- drawing ---
    def _pixel(self, x: float) -> int:
        return round((x + 1) * 0.5 * (SIZE - 4))

    def _corner(self, position, row_1d: int) -> tuple[int, int]:
        """Top-left pixel of the 4x4 square drawn for ``position``."""
        if self.dim == 1:
            return row_1d, self._pixel(position[0])
        return SIZE - 4 - self._pixel(position[1]), self._pixel(position[0])

    @cached_property
    def _backgrounds(self) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        """Background images without and with a time window."""
        plain = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
        for low, high in self.active_bands:
            plain[:, self._pixel(low) : self._pixel(high) + 4] = BAND_COLOR
        return plain, np.full_like(plain, WINDOW_COLOR)

    def draw(self, tracker, target, visible: bool, window: bool, show_hidden: bool = False):
        """``[SIZE, SIZE, 3]`` uint8 image: bands, tracker, and the target when visible."""
        image = self._backgrounds[bool(window)].copy()
        if visible or show_hidden:
            r, c = self._corner(target, 10)
            image[r : r + 4, c : c + 4] = TARGET_COLOR if visible else HIDDEN_COLOR
        r, c = self._corner(tracker, 30)
        image[r : r + 4, c : c + 4] = TRACKER_COLOR
        return image

    def observation_space(self) -> spaces.Box:
        if self.obs_type == "pixels":
            return spaces.Box(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
        low = np.array([-1.0] * (2 * self.dim) + [0.0], dtype=np.float32)
        return spaces.Box(low, np.ones_like(low), dtype=np.float32)


class OccludedTrackingEnv(gym.Env):
    """Keep a tracker on a target that moves under hidden dynamics and hides behind occluders.

    ## Description
    A target moves in the arena ``[-1, 1]^dim`` (``dim`` 1 or 2). The agent moves a
    tracker and is rewarded for staying close. The target disappears during random time
    windows (default) and/or while it is behind a fixed vertical band (``bands``, in
    ``x``); then the observation holds zeros, so the agent must remember where the target
    was going. One step is ``DT = 0.1`` s.

    Target dynamics (``dynamics``):
    * ``"bounce"``: constant velocity, speed uniform in ``target_speed`` (units/s), random
      direction, reflected by the walls. Deterministic after the start.
    * ``"oscillator"``: per axis a damped linear oscillator ``dx/dt = A x`` with
      ``A = [[0, 1], [-ω², -2ζω]]``, discretised by forward Euler:
      ``x_{t+1} = (I + Δt A) x_t + [0, w_t]``, ``w_t ~ N(0, process_noise²)``. The
      eigenvalues of ``I + ΔtA`` have modulus ``sqrt(1 - 2Δtζω + Δt²ω²)``, below 1 iff
      ``Δt ω < 2ζ`` (else forward Euler amplifies the oscillation and the state grows
      without bound). Defaults ``ω = 2π/5`` rad/s (period 5 s), ``ζ = 0.1``: radius 0.9953;
      bad combinations raise ``ValueError``.
    * ``"random_accel"``: velocity random walk (``process_noise`` per step), speed
      clipped to ``target_speed[1]``, reflected by the walls.

    ## Action space
    ``Discrete(3)`` in 1-D: 0 left, 1 stay, 2 right; ``Discrete(5)`` in 2-D: 0 stay,
    1 +x, 2 -x, 3 +y, 4 -y. The tracker moves ``tracker_speed * DT`` per step, clipped to
    the arena. Anything else raises ``ValueError``.

    ## Observation space
    ``obs_type="vector"``: ``Box(float32)`` of size ``2 dim + 1``:

    | index        | observation                               | range   |
    |--------------|-------------------------------------------|---------|
    | 0 .. dim-1   | tracker position                          | [-1, 1] |
    | dim .. 2dim-1| target position + N(0, noise²), clipped; **0 when occluded** | [-1, 1] |
    | 2 dim        | visibility flag (1 visible, 0 occluded)   | {0, 1}  |

    ``obs_type="pixels"``: ``Box(uint8, (48, 48, 3))``: black arena, gray bands, the whole
    arena gray during a time window, tracker (blue), target (yellow, only when visible).
    In 1-D the target is drawn in rows 10-13 and the tracker in rows 30-33.
    Nothing else depends on the target while it is occluded.

    ## Rewards
    ``-‖tracker - target‖ / (2 sqrt(dim))`` per step, in ``[-1, 0]``; an episode of 200
    steps returns in ``[-200, 0]``.

    ## Starting state
    Tracker at the centre; target position uniform in ``[-0.9, 0.9]^dim`` (oscillator:
    ``[-0.7, 0.7]``, velocity ``ω · U(-0.5, 0.5)`` per axis).

    ## Episode end
    No termination; truncation after ``max_episode_steps`` (200, set at registration).

    ## Occluded fraction (1-D and 2-D alike, 10⁵ steps)
    Time windows (default: rate 0.12 per step, 5-20 steps): 78 % (occluded runs of 28
    steps on average); band ``[-0.25, 0.25]``: 25 %; both: 83 %. v0's windows (rate 0.03,
    10-30 steps): 44 % (runs of 27 steps); with the band: 58 %.

    Why windows only by default: a fixed band tells a memoryless agent where the hidden
    target is (inside the band), which it can use without any memory; under time windows
    alone the hidden flag says nothing about the target.

    ## Reference returns (1000 episodes, seeds 0-999; ``reference_policies``)
    | | random | best memoryless | Bayes | oracle | gap ratio |
    |---|---:|---:|---:|---:|---:|
    | v1 | -57.3 | -38.2 | -4.8 | -2.6 | 0.637 |
    | v0 | -57.3 | -22.2 | -3.1 | -2.6 | 0.352 |

    Best memoryless: the CMA-ES-tuned reactive controller; Bayes: the particle filter
    (Kalman filter for the oscillator without bands); gap ratio
    ``(R_bayes - R_best_memoryless) / (R_bayes - R_random)``.

    ## Arguments
    ``dim`` (1), ``dynamics`` ("bounce"), ``occluders`` ("windows", "bands", "both",
    "none"), ``bands`` (((-0.25, 0.25),)), ``window_rate`` (0.12 per step),
    ``window_length`` ((5, 20) steps), ``noise`` (0.01, observation noise std),
    ``process_noise`` (0.05, velocity noise std per step: oscillator and random_accel),
    ``target_speed`` ((0.2, 0.4) units/s), ``tracker_speed`` (0.5 units/s), ``omega``,
    ``damping`` (oscillator), ``obs_type`` ("vector"), ``render_mode`` (None or
    "rgb_array": a 192x192 image that also shows the hidden target, dimmed).

    ``info``: ``target_state`` (``[position, velocity]``, float64 ``[2 dim]``),
    ``visible`` (bool), ``distance`` (tracker-target distance).

    ## Version history
    * v1: ``window_rate=0.12``, ``window_length=(5, 20)``: more, shorter windows, so that
      memory matters for most of the range. On v0 only 35 % of the range from random to
      the Bayes filter needs memory (gap ratio 0.35: the best reactive controller covers
      the rest); on v1, 64 %, while the occluded runs stay as long as v0's (28 steps on
      average: the velocity must still be remembered for a few seconds).
    * v0: ``window_rate=0.03``, ``window_length=(10, 30)``.
    """

    # An instance attribute, as Gymnasium declares it: an env may replace its own.
    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}  # noqa: RUF012

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        self.task = TrackingTask(**kwargs)
        self.render_mode = check_render_mode(render_mode)
        self.observation_space = self.task.observation_space()
        self.action_space = spaces.Discrete(len(self.task.moves))
        self._moves = [tuple(m) for m in self.task.moves.tolist()]
        self._tracker: list[float] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray, dict[str, Any]]:
        super().reset(seed=seed)
        pos, vel = self.task.sample_start(self.np_random)
        self._tracker = [0.0] * self.task.dim
        self._pos, self._vel = pos.tolist(), vel.tolist()
        self._new_chunk()
        return self._observe()

    def _new_chunk(self) -> None:
        chunk = self.task.sample_chunk(self.np_random)
        self._obs_noise, self._proc_noise, self._window = (a.tolist() for a in chunk)
        self._t = 0

    def step(self, action: int) -> tuple[NDArray, float, bool, bool, dict[str, Any]]:
        move = self._moves[check_action(action, len(self._moves))]
        task, pos, vel, tracker = self.task, self._pos, self._vel, self._tracker
        noise = self._proc_noise[self._t]
        for k in range(task.dim):
            tracker[k] = clip(tracker[k] + move[k], -1.0, 1.0)
            pos[k], vel[k] = task.advance(pos[k], vel[k], noise[k])
        self._t += 1
        if self._t == CHUNK:
            self._new_chunk()
        obs, info = self._observe()
        return obs, -info["distance"] / task.max_distance, False, False, info

    def _observe(self) -> tuple[NDArray, dict[str, Any]]:
        task, pos, tracker, t = self.task, self._pos, self._tracker, self._t
        visible = not (self._window[t] or task.in_band(pos[0]))
        if task.obs_type == "pixels":
            obs = task.draw(tracker, pos, visible, self._window[t])
        elif visible:
            seen = [clip(p + n, -1.0, 1.0) for p, n in zip(pos, self._obs_noise[t], strict=True)]
            obs = np.array([*tracker, *seen, 1.0], dtype=np.float32)
        else:
            obs = np.array([*tracker, *[0.0] * task.dim, 0.0], dtype=np.float32)
        distance = math.dist(tracker, pos)
        return obs, {
            "target_state": np.array(pos + self._vel),
            "visible": visible,
            "distance": distance,
        }

    def render(self) -> NDArray[np.uint8] | None:
        if cannot_render(self.render_mode):
            return None
        t = self._t
        visible = not (self._window[t] or self.task.in_band(self._pos[0]))
        image = self.task.draw(self._tracker, self._pos, visible, self._window[t], True)
        return upscale(image, SCALE)


class OccludedTrackingVectorEnv(NativeVectorEnv):
    """``num_envs`` copies of :class:`OccludedTrackingEnv` stepped in one numpy call each.

    Autoreset and seeding as :class:`~stateful_rl.envs.vector.NativeVectorEnv`
    (``NEXT_STEP``; sub-env ``i`` equals a single env seeded ``seed + i``).
    ``obs_type="pixels"`` draws each image with the single env's code (a loop; the
    dynamics stay batched).
    """

    metadata: dict[str, Any] = NativeVectorEnv.metadata | {"render_fps": 10}

    def __init__(
        self,
        num_envs: int,
        max_episode_steps: int | None = 200,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.task = TrackingTask(**kwargs)
        n_actions = len(self.task.moves)
        super().__init__(
            num_envs,
            max_episode_steps,
            render_mode,
            self.task.observation_space(),
            spaces.Discrete(n_actions),
        )
        d = self.task.dim
        self._rows = np.arange(num_envs)
        self._tracker, self._pos, self._vel = (np.zeros((num_envs, d)) for _ in range(3))
        self._obs_noise = np.zeros((num_envs, CHUNK, d))
        self._proc_noise = np.zeros((num_envs, CHUNK, d))
        self._window = np.zeros((num_envs, CHUNK), dtype=bool)
        self._t = np.zeros(num_envs, dtype=np.int64)

    def _reset_env(self, i: int) -> None:
        self._pos[i], self._vel[i] = self.task.sample_start(self._rngs[i])
        self._tracker[i] = 0.0
        self._new_chunk(i)

    def _new_chunk(self, i: int) -> None:
        chunk = self.task.sample_chunk(self._rngs[i])
        self._obs_noise[i], self._proc_noise[i], self._window[i] = chunk
        self._t[i] = 0

    def _advance(self, actions: NDArray[np.int64], active: NDArray[np.bool_]) -> None:
        self._tracker = clip(self._tracker + self.task.moves[actions], -1.0, 1.0)
        noise = self._proc_noise[self._rows, self._t]
        self._pos, self._vel = self.task.advance(self._pos, self._vel, noise)
        self._t += 1
        for i in np.flatnonzero((self._t == CHUNK) & active):
            self._new_chunk(int(i))

    def _outcome(self, info: dict[str, Any]) -> tuple[NDArray, NDArray[np.bool_]]:
        return -info["distance"] / self.task.max_distance, np.zeros(self.num_envs, dtype=bool)

    def _visible_window(self) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        window = self._window[self._rows, self._t]
        return ~(window | self.task.in_band(self._pos[:, 0])), window

    def _observe(self) -> tuple[NDArray, dict[str, Any]]:
        visible, window = self._visible_window()
        if self.task.obs_type == "pixels":
            obs = np.stack(
                [
                    self.task.draw(self._tracker[i], self._pos[i], visible[i], window[i])
                    for i in range(self.num_envs)
                ]
            )
        else:
            noisy = self._pos + self._obs_noise[self._rows, self._t]
            seen = np.where(visible[:, None], clip(noisy, -1.0, 1.0), 0.0)
            obs = np.hstack([self._tracker, seen, visible[:, None]]).astype(np.float32)
        diff = self._tracker - self._pos
        info = {
            "target_state": np.hstack([self._pos, self._vel]),
            "visible": visible,
            "distance": np.sqrt((diff * diff).sum(axis=1)),
        }
        return obs, info

    def render(self) -> tuple[NDArray[np.uint8], ...] | None:
        """One ``rgb_array`` frame per sub-env (hidden targets dimmed)."""
        if cannot_render(self.render_mode):
            return None
        visible, window = self._visible_window()
        return tuple(
            upscale(
                self.task.draw(self._tracker[i], self._pos[i], visible[i], window[i], True), SCALE
            )
            for i in range(self.num_envs)
        )
