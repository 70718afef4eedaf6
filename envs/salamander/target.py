"""``stateful_rl/SalamanderTarget-v0``: swim to a goal seen only inside a field of view."""

from __future__ import annotations

from typing import Any

import numpy as np

from stateful_rl.envs.salamander.base import SalamanderEnv


class SalamanderTargetEnv(SalamanderEnv):
    """Swim to a random goal that a head-mounted sensor sees only inside its view cone.

    The partially observable salamander task: the goal's position is observed only while
    it lies within ``fov / 2`` of the head's forward axis and within ``sight_range``;
    otherwise the sensor reads zeros, so a policy must remember where the goal was.
    Same animal, actions, observations (except the task part) and ``info`` as
    ``SalamanderSwimEnv`` (see there). Turning is slow (about 5°/s for a drive difference
    of 1 while swimming), so the goal is a disc of ``goal_radius`` (0.3 m) and episodes
    are long.

    ## Task observation (last 3 values)
    ``[visible, x, y]``: 1 and the goal in the head frame (x forward, y left; m) when it is
    in view, else ``[0, 0, 0]``.

    ## Rewards
    ``reward_progress`` = centre-of-mass velocity (m/s) towards the goal (horizontal),
    ``reward_goal`` = ``goal_bonus`` (10) on the step the head comes within
    ``goal_radius`` of the goal, and ``reward_energy`` as in every salamander environment.

    ## Starting state
    Head 2 m beyond the foot of the ramp, 1 cm under water, yaw uniform in [−π, π); goal on
    the surface at a distance uniform in ``goal_distance`` (1–2 m) and a bearing uniform in
    [−π, π) from the head (so it starts out of view with probability 1 − fov / 2π).

    ## Episode end
    Terminates when the head is within ``goal_radius`` of the goal; truncated after 1500
    steps (60 s) by the registration.

    ## Info
    As ``SalamanderSwimEnv``, plus ``goal`` [3], ``goal_distance`` (m, from the head) and
    ``goal_visible``.

    ## Version history
    - v0: initial version.
    """

    task_observation_size = 3

    def __init__(
        self,
        fov: float = np.pi / 2,
        sight_range: float = 3.0,
        goal_distance: tuple[float, float] = (1.0, 2.0),
        goal_radius: float = 0.3,
        goal_bonus: float = 10.0,
        **kwargs,
    ) -> None:
        if not 0 < fov <= 2 * np.pi or sight_range <= 0:
            raise ValueError("fov must be in (0, 2π] rad and sight_range > 0 m")
        if not 0 < goal_distance[0] <= goal_distance[1]:
            raise ValueError(
                f"goal_distance must be (low, high) with 0 < low <= high, got {goal_distance}"
            )
        if goal_radius <= 0 or goal_bonus < 0:
            raise ValueError("goal_radius must be > 0 and goal_bonus >= 0")
        self.fov, self.sight_range = float(fov), float(sight_range)
        self.goal_range = (float(goal_distance[0]), float(goal_distance[1]))
        self.goal_radius, self.goal_bonus = float(goal_radius), float(goal_bonus)
        self.goal = np.zeros(3)
        super().__init__(**kwargs)

    def goal_distance(self) -> float:
        """Horizontal distance from the head to the goal (m)."""
        return float(np.linalg.norm((self.goal - self.head_position)[:2]))

    def goal_visible(self) -> bool:
        """Whether the goal is inside the head sensor's view cone and range."""
        x, y, _ = self.to_head_frame(self.goal)
        in_cone = abs(np.arctan2(y, x)) <= 0.5 * self.fov
        return bool(in_cone and np.hypot(x, y) <= self.sight_range)

    def _start(self, rng: np.random.Generator) -> tuple[float, float, float, float]:
        return self.arena.pool_x + 2.0, 0.0, -0.01, rng.uniform(-np.pi, np.pi)

    def _task_reset(self, rng: np.random.Generator) -> None:
        distance = rng.uniform(*self.goal_range)
        bearing = rng.uniform(-np.pi, np.pi)
        x, y = self.data.qpos[:2]
        self.goal = np.array([x + distance * np.cos(bearing), y + distance * np.sin(bearing), 0])

    def _task_observation(self) -> np.ndarray:
        if not self.goal_visible():
            return np.zeros(3)
        return np.concatenate([[1.0], self.to_head_frame(self.goal)[:2]])

    def _task_step(self, com_velocity: np.ndarray) -> tuple[dict[str, float], bool]:
        offset = (self.goal - self.com)[:2]
        direction = offset / max(float(np.linalg.norm(offset)), 1e-9)
        reached = self.goal_distance() < self.goal_radius
        rewards = {
            "reward_progress": float(com_velocity[:2] @ direction),
            "reward_goal": self.goal_bonus if reached else 0.0,
        }
        return rewards, reached

    def _task_info(self) -> dict[str, Any]:
        return {
            "goal": self.goal.copy(),
            "goal_distance": self.goal_distance(),
            "goal_visible": self.goal_visible(),
        }
