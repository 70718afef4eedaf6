"""``stateful_rl/SalamanderAmphibious-v1``: walk down the shore and swim across a finish line."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from stateful_rl.envs.salamander.base import SalamanderBatch, SalamanderEnv, SalamanderVectorEnv
from stateful_rl.envs.salamander.checks import check_float
from stateful_rl.envs.salamander.locomotion import HeadingTask

TRUNK_LINK = 6  # body_2 in ``model.build_mjcf``'s links order


def reference_drives(info: dict[str, Any], walk: float = 2.0, swim: float = 4.0) -> np.ndarray:
    """An open-loop reference controller for ``control="cpg"``: drives [2] from ``info``.

    Walk (drive ``walk``) until the head and the trunk are in the water, then swim (drive
    ``swim``); it crosses the finish line (tests/envs/test_salamander_physics).
    """
    wet = info["links_in_water"]
    d = swim if wet[0] and wet[TRUNK_LINK] else walk
    return np.array([d, d])


class AmphibiousTask(HeadingTask):
    """Walk down the shore and swim across a finish line ``finish_distance`` beyond the foot
    of the ramp, heading +x. Arguments: ``start_inland`` [0, 10] m, ``finish_distance``
    [0, 40] m, ``finish_bonus`` [0, 1e6], ``start_yaw_noise`` [0, π] rad."""

    default_drive_levels = (1.5, 2.0, 2.5, 3.5, 4.0, 4.5)
    observation_size = 3
    reward_names = ("reward_forward", "reward_finish")

    def __init__(
        self,
        animals: SalamanderBatch,
        start_inland: float = 0.3,
        finish_distance: float = 1.0,
        finish_bonus: float = 10.0,
        start_yaw_noise: float = 0.1,
    ) -> None:
        super().__init__(animals, heading=0.0, start_yaw_noise=start_yaw_noise)
        self.start_inland = check_float("start_inland", start_inland, 0.0, 10.0)
        self.finish_distance = check_float("finish_distance", finish_distance, 0.0, 40.0)
        self.finish_bonus = check_float("finish_bonus", finish_bonus, 0.0, 1e6)
        self.finish_x = animals.settings.arena.pool_x + self.finish_distance

    @property
    def start_x_offset(self) -> float:
        return -self.start_inland

    @property
    def start_z(self) -> float:
        return self.animals.settings.arena.land_height + 0.06

    def distance_to_finish(self) -> NDArray:
        """Distance (m) from each centre of mass to the finish line along +x, [N]."""
        return self.finish_x - self.animals.com[:, 0]

    def observation(self) -> NDArray:
        return np.concatenate([super().observation(), self.distance_to_finish()[:, None]], axis=1)

    def rewards(self, com_velocity: NDArray) -> tuple[dict[str, NDArray], NDArray[np.bool_]]:
        rewards, _ = super().rewards(com_velocity)
        finished = self.distance_to_finish() <= 0.0
        rewards["reward_finish"] = np.where(finished, self.finish_bonus, 0.0)
        return rewards, finished

    def info(self) -> dict[str, NDArray]:
        return {"distance_to_finish": self.distance_to_finish()}


class SalamanderAmphibiousEnv(SalamanderEnv):
    """Start on land facing the pool; cross a finish line in the water: walk, enter, swim.

    Same animal, actions, observations (except the task part), rewards and ``info`` as
    ``SalamanderSwimEnv`` (see there), heading +x (towards the pool), plus a finish line
    across the pool ``finish_distance`` (1 m) beyond the foot of the ramp. Default
    ``drive_levels`` (1.5, 2, 2.5, 3.5, 4, 4.5): walking and swimming gaits, so
    ``cpg_discrete`` offers the sharp land turns of ``SalamanderWalkEnv`` and the sharp water
    turns of ``SalamanderSwimEnv`` (see their turn-rate tables).
    ``gym.make_vec(..., vectorization_mode="vector_entry_point")`` gives
    ``SalamanderAmphibiousVectorEnv``.

    ## Task observation (last 3 values)
    cos and sin of the heading target in the head frame, and the distance (m) from the
    centre of mass to the finish line along +x.

    ## Rewards
    ``reward_forward`` and ``reward_energy`` as in ``SalamanderSwimEnv``, and
    ``reward_finish`` = ``finish_bonus`` (10) on the step the centre of mass crosses the line.

    ## Starting state
    Head ``start_inland`` (0.3 m) before the shore on land (``Arena.land_height`` + 6 cm),
    yaw ±``start_yaw_noise`` (0.1 rad) around +x, legs folded back (``start_posture``); the
    whole animal is out of the water.

    ## Episode end
    Terminates when the centre of mass crosses the finish line; truncated after 1000 steps
    (40 s) by the registration.

    ## Arguments
    Those of ``SalamanderSwimEnv`` except ``heading`` (always +x), and ``start_inland``
    (0.3 m, [0, 10]), ``finish_distance`` (1 m, [0, 40]), ``finish_bonus`` (10, [0, 1e6]).

    ## Version history
    - v1: as ``SalamanderSwimEnv`` v1 (rotational water drag, folded legs at the start,
      sharp discrete turns on land and in water, a native vector env).
    - v0: ``rotational_drag=0``, ``turn_style="offset"``, ``start_posture="spread"``.
    """

    task_class = AmphibiousTask


class SalamanderAmphibiousVectorEnv(SalamanderVectorEnv):
    """``num_envs`` × ``SalamanderAmphibiousEnv`` in one batch (see ``SalamanderVectorEnv``)."""

    task_class = AmphibiousTask
