"""``stateful_rl/SalamanderWalk-v0``: walk along a heading on land."""

from __future__ import annotations

from stateful_rl.envs.salamander.base import SalamanderEnv, SalamanderVectorEnv
from stateful_rl.envs.salamander.locomotion import HeadingTask


class WalkTask(HeadingTask):
    """Walk along the heading target, starting 5 m inland, 6 cm above the ground."""

    default_drive_levels = (1.5, 2.0, 2.5)
    start_x_offset = -5.0

    @property
    def start_z(self) -> float:
        return self.animals.settings.arena.land_height + 0.06


class SalamanderWalkEnv(SalamanderEnv):
    """Walk as fast as possible along a heading target (default +x) on flat land.

    Same animal, actions, observations, rewards and info as ``SalamanderSwimEnv`` (see
    there); CPG drives in [1, 3] give the walking gait (trot: diagonal limbs in phase,
    body standing wave). Default ``drive_levels`` (1.5, 2, 2.5). Turning is the other way
    round from swimming: a larger left drive lengthens the left strides and turns the
    animal right (about −25° in 15 s for drives 2.5/1.5).

    ## Starting state
    Head 5 m inland from the shore, 6 cm above the ground, yaw = heading ± 0.1 rad, spine
    angles uniform in ±``reset_noise_scale`` rad; the animal drops onto its legs.

    ## Episode end
    Never terminates; truncated after 500 steps (20 s) by the registration.

    ## Version history
    - v0: initial version.
    """

    task_class = WalkTask


class SalamanderWalkVectorEnv(SalamanderVectorEnv):
    """``num_envs`` × ``SalamanderWalkEnv`` in one batch (see ``SalamanderVectorEnv``)."""

    task_class = WalkTask
