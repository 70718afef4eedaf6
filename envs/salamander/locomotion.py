"""Locomotion along a heading target: the task shared by the swim and walk environments."""

from __future__ import annotations

import numpy as np

from stateful_rl.envs.salamander.base import SalamanderEnv


class HeadingEnv(SalamanderEnv):
    """Reward the centre-of-mass speed along a fixed heading target (rad, 0 = +x).

    Task observation (2 values): cos and sin of the heading target relative to the head's
    yaw. Rewards: ``reward_forward`` = COM velocity (m/s) along the heading target, and
    ``reward_energy`` = −energy_weight × mechanical power (W). Never terminates.
    """

    task_observation_size = 2
    start_x_offset = 0.0  # head x relative to the shore (m)
    start_z = 0.0  # head height (m)

    def __init__(self, heading: float = 0.0, start_yaw_noise: float = 0.1, **kwargs) -> None:
        if not np.isfinite(heading) or start_yaw_noise < 0:
            raise ValueError("heading must be finite and start_yaw_noise >= 0")
        self.heading = float(heading)
        self.start_yaw_noise = float(start_yaw_noise)
        self._direction = np.array([np.cos(heading), np.sin(heading), 0.0])
        super().__init__(**kwargs)

    def _start(self, rng: np.random.Generator) -> tuple[float, float, float, float]:
        yaw = self.heading + rng.uniform(-self.start_yaw_noise, self.start_yaw_noise)
        return self.arena.shore_x + self.start_x_offset, 0.0, self.start_z, yaw

    def _task_observation(self) -> np.ndarray:
        local = self.head_rotation.T @ self._direction
        angle = np.arctan2(local[1], local[0])
        return np.array([np.cos(angle), np.sin(angle)])

    def _task_step(self, com_velocity: np.ndarray) -> tuple[dict[str, float], bool]:
        return {"reward_forward": float(com_velocity @ self._direction)}, False
