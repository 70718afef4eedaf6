"""``stateful_rl/SalamanderWalk-v1``: walk along a heading on land."""

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

    Same animal, actions, observations, rewards, info and arguments as
    ``SalamanderSwimEnv`` (see there); CPG drives in [1, 3] give the walking gait (trot:
    diagonal limbs in phase, body standing wave). Default ``drive_levels`` (1.5, 2, 2.5).
    ``gym.make_vec(..., vectorization_mode="vector_entry_point")`` gives
    ``SalamanderWalkVectorEnv``.

    ## Turning
    With ``control="cpg"``, small drive differences turn the walking animal the other way
    round from swimming: a larger left drive lengthens the left strides and turns it right
    (drives 2.5/1.5: about −2°/s). The sharp ``cpg_discrete`` turns of a walking level d
    silence the limbs on the inner side instead: left is (5, d), whose left limbs are
    above their drive range while the left body bends at swimming amplitude and the right
    limbs walk on. Turn rates, body axis after 5 s of a 15 s hold
    (``gaits.discrete_turn_rates``, on land; + = left):

    | level | left: drives, rate | right: drives, rate | path speed |
    |---|---|---|---|
    | 1.5 | (5, 1.5), +11.0°/s | (1.5, 5), −12.9°/s | 0.08 m/s |
    | 2.0 | (5, 2), +16.1°/s | (2, 5), −14.9°/s | 0.09 m/s |
    | 2.5 | (5, 2.5), +15.2°/s | (2.5, 5), −15.0°/s | 0.09 m/s |

    ## Starting state
    Head 5 m inland from the shore, 6 cm above the ground, yaw = heading ± 0.1 rad, spine
    angles uniform in ±``reset_noise_scale`` rad, legs folded back (``start_posture``); the
    animal drops onto its feet (its centre of mass settles 1.4 cm and moves 0.6 cm forward
    in 10 s at drive 0).

    ## Episode end
    Never terminates; truncated after 500 steps (20 s) by the registration.

    ## Version history
    - v1: as ``SalamanderSwimEnv`` v1 (folded legs at the start: v0's fold moved the
      animal 2 cm; sharp discrete turns: v0's ±0.25 offsets turned the wrong way on land).
    - v0: ``rotational_drag=0``, ``turn_style="offset"``, ``start_posture="spread"``.
    """

    task_class = WalkTask


class SalamanderWalkVectorEnv(SalamanderVectorEnv):
    """``num_envs`` × ``SalamanderWalkEnv`` in one batch (see ``SalamanderVectorEnv``)."""

    task_class = WalkTask
