"""``stateful_rl/SalamanderAmphibious-v0``: walk down the shore and swim across a finish line."""

from __future__ import annotations

from typing import Any

import numpy as np

from stateful_rl.envs.salamander.locomotion import HeadingEnv

TRUNK_LINK = 6  # body_2 in ``model.build_mjcf``'s links order


def reference_drives(info: dict[str, Any], walk: float = 2.0, swim: float = 4.0) -> np.ndarray:
    """An open-loop reference controller for ``control="cpg"``: drives [2] from ``info``.

    Walk (drive ``walk``) until the head and the trunk are in the water, then swim (drive
    ``swim``); it crosses the finish line in about 23 s (tests/test_salamander_physics).
    """
    wet = info["links_in_water"]
    d = swim if wet[0] and wet[TRUNK_LINK] else walk
    return np.array([d, d])


class SalamanderAmphibiousEnv(HeadingEnv):
    """Start on land facing the pool; cross a finish line in the water: walk, enter, swim.

    Same animal, actions, observations (except the task part), rewards and ``info`` as
    ``SalamanderSwimEnv`` (see there), heading +x (towards the pool), plus a finish line
    across the pool ``finish_distance`` (1 m) beyond the foot of the ramp. Default
    ``drive_levels`` (1.5, 2, 2.5, 3.5, 4, 4.5): walking and swimming gaits.

    ## Task observation (last 3 values)
    cos and sin of the heading target in the head frame, and the distance (m) from the
    centre of mass to the finish line along +x.

    ## Rewards
    ``reward_forward`` and ``reward_energy`` as in ``SalamanderSwimEnv``, and
    ``reward_finish`` = ``finish_bonus`` (10) on the step the centre of mass crosses the line.

    ## Starting state
    Head ``start_inland`` (0.3 m) before the shore on land (``Arena.land_height`` + 6 cm),
    yaw ±0.1 rad around +x; the whole animal is out of the water.

    ## Episode end
    Terminates when the centre of mass crosses the finish line; truncated after 1000 steps
    (40 s) by the registration.

    ## Version history
    - v0: initial version.
    """

    default_drive_levels = (1.5, 2.0, 2.5, 3.5, 4.0, 4.5)
    task_observation_size = 3

    def __init__(
        self,
        start_inland: float = 0.3,
        finish_distance: float = 1.0,
        finish_bonus: float = 10.0,
        **kwargs,
    ) -> None:
        if start_inland < 0 or finish_distance < 0 or finish_bonus < 0:
            raise ValueError("start_inland, finish_distance and finish_bonus must be >= 0")
        self.start_inland, self.finish_bonus = float(start_inland), float(finish_bonus)
        self.finish_distance = float(finish_distance)
        super().__init__(heading=0.0, **kwargs)
        self.finish_x = self.arena.pool_x + self.finish_distance

    @property
    def start_x_offset(self) -> float:
        return -self.start_inland

    @property
    def start_z(self) -> float:
        return self.arena.land_height + 0.06

    def distance_to_finish(self) -> float:
        """Distance (m) from the centre of mass to the finish line along +x."""
        return self.finish_x - float(self.data.subtree_com[self._head][0])

    def _task_observation(self) -> np.ndarray:
        return np.append(super()._task_observation(), self.distance_to_finish())

    def _task_step(self, com_velocity: np.ndarray) -> tuple[dict[str, float], bool]:
        rewards, _ = super()._task_step(com_velocity)
        finished = self.distance_to_finish() <= 0.0
        rewards["reward_finish"] = self.finish_bonus if finished else 0.0
        return rewards, finished

    def _task_info(self) -> dict[str, Any]:
        return {"distance_to_finish": self.distance_to_finish()}
