"""Locomotion along a heading target: the task shared by the swim, walk and amphibious envs."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from stateful_rl.envs.salamander.base import SalamanderBatch, SalamanderTask
from stateful_rl.envs.salamander.checks import check_float
from stateful_rl.envs.salamander.frames import dot_rows, transpose_times


class HeadingTask(SalamanderTask):
    """Reward the centre-of-mass speed along a fixed heading target (rad, 0 = +x).

    Task observation (2 values): cos and sin of the heading target relative to the head's
    yaw. Rewards: ``reward_forward`` = COM velocity (m/s) along the heading target (and
    ``reward_energy`` as in every salamander task). Never terminates. Arguments:
    ``heading`` in [−2π, 2π] rad, ``start_yaw_noise`` in [0, π] rad.
    """

    observation_size = 2
    reward_names: ClassVar[tuple[str, ...]] = ("reward_forward",)

    @property
    def start_x_offset(self) -> float:
        """Head x relative to the shore (m)."""
        return 0.0

    @property
    def start_z(self) -> float:
        """Head height (m)."""
        return 0.0

    def __init__(
        self, animals: SalamanderBatch, heading: float = 0.0, start_yaw_noise: float = 0.1
    ) -> None:
        super().__init__(animals)
        self.heading = check_float("heading", heading, -2 * np.pi, 2 * np.pi)
        self.start_yaw_noise = check_float("start_yaw_noise", start_yaw_noise, 0.0, np.pi)
        self.direction = np.array([np.cos(self.heading), np.sin(self.heading), 0.0])
        self._directions = np.tile(self.direction, (animals.n, 1))
        self._never = np.zeros(animals.n, dtype=bool)  # read only: nothing writes into it

    def start(self, rng: np.random.Generator) -> tuple[float, float, float, float]:
        yaw = self.heading + rng.uniform(-self.start_yaw_noise, self.start_yaw_noise)
        return self.animals.settings.arena.shore_x + self.start_x_offset, 0.0, self.start_z, yaw

    def observation(self) -> NDArray:
        local = transpose_times(self.animals.rotation, self._directions)
        angle = np.arctan2(local[:, 1], local[:, 0])
        out = np.empty((self.animals.n, 2))
        np.cos(angle, out=out[:, 0])
        np.sin(angle, out=out[:, 1])
        return out

    def rewards(self, com_velocity: NDArray) -> tuple[dict[str, NDArray], NDArray[np.bool_]]:
        return {"reward_forward": dot_rows(com_velocity, self.direction)}, self._never
