"""``stateful_rl/SalamanderTarget-v2``: swim to a goal seen only at first, or close and in view."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from stateful_rl.envs.salamander.base import (
    SalamanderBatch,
    SalamanderEnv,
    SalamanderTask,
    SalamanderVectorEnv,
)
from stateful_rl.envs.salamander.checks import check_float


class TargetTask(SalamanderTask):
    """Swim to a goal seen only inside the head sensor's view cone, and anywhere during the
    first ``cue_time`` seconds (see ``SalamanderTargetEnv``). Arguments: ``fov`` (0, 2π] rad,
    ``sight_range`` (0, 100] m, ``goal_distance`` (low, high) with 0 < low ≤ high ≤ 100 m,
    ``goal_radius`` (0, 10] m, ``goal_bonus`` [0, 1e6], ``cue_time`` [0, 1000] s."""

    observation_size = 3
    reward_names = ("reward_progress", "reward_goal")
    camera = "overhead"

    def __init__(
        self,
        animals: SalamanderBatch,
        fov: float = np.pi / 2,
        sight_range: float = 3.0,
        goal_distance: tuple[float, float] = (1.0, 2.0),
        goal_radius: float = 0.3,
        goal_bonus: float = 10.0,
        cue_time: float = 0.0,
    ) -> None:
        super().__init__(animals)
        self.fov = check_float("fov", fov, 0.0, 2 * np.pi, open_low=True)
        self.sight_range = check_float("sight_range", sight_range, 0.0, 100.0, open_low=True)
        try:
            low, high = goal_distance
        except (TypeError, ValueError):
            raise ValueError(f"goal_distance must be (low, high), got {goal_distance!r}") from None
        low = check_float("goal_distance[0]", low, 0.0, 100.0, open_low=True)
        self.goal_range = (low, check_float("goal_distance[1]", high, low, 100.0))
        self.goal_radius = check_float("goal_radius", goal_radius, 0.0, 10.0, open_low=True)
        self.goal_bonus = check_float("goal_bonus", goal_bonus, 0.0, 1e6)
        self.cue_time = check_float("cue_time", cue_time, 0.0, 1000.0)
        self.goal = np.zeros((animals.n, 3))

    @property
    def start_x(self) -> float:
        """x of the head at the start (m): 2 m beyond the foot of the ramp."""
        return self.animals.settings.arena.pool_x + 2.0

    def start(self, rng: np.random.Generator) -> tuple[float, float, float, float]:
        return self.start_x, 0.0, -0.01, rng.uniform(-np.pi, np.pi)

    def scene_xml(self) -> str:
        # The goal disc (its mocap body follows the goal) and a camera looking straight
        # down on the start, high enough to hold every goal (≤ 2 m away by default).
        height = 2.5 * max(self.goal_range[1], 1.0)
        return (
            '<body name="goal" mocap="true" pos="0 0 -1">'
            f'<geom name="goal" type="cylinder" size="{self.goal_radius:.5g} 0.002" '
            'contype="0" conaffinity="0" rgba="0.95 0.75 0.1 0.6"/></body>'
            f'<camera name="overhead" pos="{self.start_x:.5g} 0 {height:.5g}" '
            'xyaxes="1 0 0 0 1 0"/>'
        )

    def reset(self, i: int, rng: np.random.Generator) -> None:
        distance = rng.uniform(*self.goal_range)
        bearing = rng.uniform(-np.pi, np.pi)
        data = self.animals.datas[i]
        x, y = data.qpos[:2]
        self.goal[i] = (x + distance * np.cos(bearing), y + distance * np.sin(bearing), 0.0)
        data.mocap_pos[0] = self.goal[i]

    def goal_distance(self) -> NDArray:
        """Horizontal distance from each head to its goal (m), [N]."""
        offset = self.goal - self.animals.qpos[:, :3]
        return np.sqrt(offset[:, 0] * offset[:, 0] + offset[:, 1] * offset[:, 1])

    def goal_in_head_frame(self) -> NDArray:
        """Each goal in its head's frame (x forward, y left), [N, 3] (m)."""
        return self.animals.to_head_frame(self.goal)

    def goal_visible(self) -> NDArray[np.bool_]:
        """Whether each goal is observed: inside its head sensor's view cone and range, or
        anywhere while the cue lasts, [N]."""
        x, y = self.goal_in_head_frame()[:, :2].T
        in_cone = np.abs(np.arctan2(y, x)) <= 0.5 * self.fov
        in_view = in_cone & (np.hypot(x, y) <= self.sight_range)
        # Times are sums of physics steps: half a step of margin absorbs their rounding.
        cue_end = self.cue_time - 0.5 * self.animals.settings.timestep
        return in_view | (self.animals.time < cue_end)

    def observation(self) -> NDArray:
        local = self.goal_in_head_frame()
        seen = np.stack([np.ones(self.animals.n), local[:, 0], local[:, 1]], axis=1)
        return np.where(self.goal_visible()[:, None], seen, 0.0)

    def rewards(self, com_velocity: NDArray) -> tuple[dict[str, NDArray], NDArray[np.bool_]]:
        offset = (self.goal - self.animals.com)[:, :2]
        norm = np.sqrt(offset[:, 0] * offset[:, 0] + offset[:, 1] * offset[:, 1])
        direction = offset / np.maximum(norm, 1e-9)[:, None]
        progress = com_velocity[:, 0] * direction[:, 0] + com_velocity[:, 1] * direction[:, 1]
        reached = self.goal_distance() < self.goal_radius
        return {
            "reward_progress": progress,
            "reward_goal": np.where(reached, self.goal_bonus, 0.0),
        }, reached

    def info(self) -> dict[str, NDArray]:
        return {
            "goal": self.goal.copy(),
            "goal_distance": self.goal_distance(),
            "goal_visible": self.goal_visible(),
        }


class SalamanderTargetEnv(SalamanderEnv):
    """Swim to a random goal that a head-mounted sensor sees only inside its view cone.

    The partially observable salamander task: the goal's position is observed only while
    it lies within ``fov / 2`` of the head's forward axis and within ``sight_range``, and,
    during the first ``cue_time`` seconds of an episode, wherever it lies; otherwise the
    sensor reads zeros, so a policy must remember where the goal was. Same animal, actions,
    observations (except the task part) and ``info`` as ``SalamanderSwimEnv`` (see there).
    With ``control="cpg"`` a drive difference of 1 turns the swimmer at about 5°/s; the
    sharp ``cpg_discrete`` turns at 13–23°/s (table in ``SalamanderSwimEnv``). The goal is
    a disc of ``goal_radius`` (0.3 m). ``gym.make_vec(..., vectorization_mode=
    "vector_entry_point")`` gives ``SalamanderTargetVectorEnv``.

    v2 (``SalamanderTarget-v2``) is the memory task: the goal is shown for the first half
    second wherever it lies, then only within 0.5 m inside the view cone, and the head's
    orientation comes without its compass heading (``compass=False``), so that neither the
    sensor nor the compass can stand in for memory; the reference policies of
    ``references`` measure the gap (see the version history).

    ## Task observation (last 3 values)
    ``[visible, x, y]``: 1 and the goal in the head frame (x forward, y left; m) when it is
    observed, else ``[0, 0, 0]``.

    ## Rewards
    ``reward_progress`` = centre-of-mass velocity (m/s) towards the goal (horizontal),
    ``reward_goal`` = ``goal_bonus`` (10; v2: 30) on the step the head comes within
    ``goal_radius`` of the goal, and ``reward_energy`` as in every salamander environment.

    ## Starting state
    Head 2 m beyond the foot of the ramp, 1 cm under water, yaw uniform in [−π, π), legs
    folded back (``start_posture``); goal on the surface at a distance uniform in
    ``goal_distance`` (1–2 m) and a bearing uniform in [−π, π) from the head (so it starts
    out of view with probability 1 − fov / 2π, unless the cue shows it).

    ## Episode end
    Terminates when the head is within ``goal_radius`` of the goal; truncated after 1500
    steps (60 s; v2: 375 steps of 80 ms, 30 s) by the registration.

    ## Info
    As ``SalamanderSwimEnv``, plus ``goal`` [3], ``goal_distance`` (m, from the head) and
    ``goal_visible``.

    ## Arguments
    Those of ``SalamanderSwimEnv`` except ``heading`` and ``start_yaw_noise``, and ``fov``
    (π/2 rad, (0, 2π]), ``sight_range`` (3 m, (0, 100]), ``goal_distance`` ((1, 2) m,
    0 < low ≤ high ≤ 100), ``goal_radius`` (0.3 m, (0, 10]), ``goal_bonus`` (10, [0, 1e6]),
    ``cue_time`` (0 s, [0, 1000]: how long the goal is shown wherever it lies). v2 is
    registered with ``cue_time=0.5``, ``sight_range=0.5``, ``compass=False``,
    ``goal_bonus=30`` and ``frame_skip=16``.

    ## Version history
    - v2: the goal shown everywhere for the first 0.5 s only, then within 0.5 m inside the
      view cone; no compass (the head's orientation without its heading); goal bonus 30;
      an 80 ms control period (``frame_skip=16``: a turn of 180° takes ~100 decisions, not
      ~200) and 375 steps (30 s). In v1 a memoryless policy that turns until it sees the
      goal and then steers to it does nearly as well as one with memory: the gap ratio
      (R_bayes − R_memoryless) / (R_bayes − R_random) is RATIO_V1 in v1 and RATIO_V2 in v2
      (``python -m stateful_rl.bench.salamander_agents references``).
    - v1: as ``SalamanderSwimEnv`` v1 (rotational water drag, folded legs at the start,
      sharp discrete turns, a native vector env).
    - v0: ``rotational_drag=0``, ``turn_style="offset"``, ``start_posture="spread"``.
    """

    task_class = TargetTask


class SalamanderTargetVectorEnv(SalamanderVectorEnv):
    """``num_envs`` × ``SalamanderTargetEnv`` in one batch (see ``SalamanderVectorEnv``)."""

    task_class = TargetTask
