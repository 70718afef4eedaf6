"""``stateful_rl/SalamanderSwim-v1``: swim along a heading in the pool."""

from __future__ import annotations

from stateful_rl.envs.salamander.base import SalamanderEnv, SalamanderVectorEnv
from stateful_rl.envs.salamander.locomotion import HeadingTask


class SwimTask(HeadingTask):
    """Swim along the heading target, starting 2 m beyond the foot of the ramp."""

    start_z = -0.01

    @property
    def start_x_offset(self) -> float:
        return self.animals.settings.arena.ramp_length + 2.0


class SalamanderSwimEnv(SalamanderEnv):
    """Swim as fast as possible along a heading target (default +x) in deep water.

    ## Description
    A 0.45 m, 20-actuator salamander (``model.SalamanderBody``) floats in a 0.3 m deep pool
    (``model.Arena``) under per-link drag, rotational drag and buoyancy
    (``water.WaterForces``), driven by Ijspeert's 2007 phase-oscillator CPG
    (``control="cpg"`` or ``"cpg_discrete"``), by his 2001 connectionist CPG, a fitted
    rate-neuron network (``control="neural_cpg"`` or ``"neural_cpg_discrete"``,
    ``neural_cpg.NeuralSalamanderCPG``), or directly through its joint position targets
    (``control="joints"``). With either CPG, drives in (3, 5] give the swimming gait: a
    travelling body wave, limbs folded back. ``gym.make_vec(..., vectorization_mode=
    "vector_entry_point")`` gives ``SalamanderSwimVectorEnv``: the same trajectories as
    Gymnasium's ``SyncVectorEnv`` of this env, all animals stepped in one call.

    ## Action space
    - ``"cpg"``: ``Box(0, 5, (2,))``, the left and right drives. A larger left than right
      drive turns the swimming animal left (anticlockwise seen from above; drives 4.5/3.5:
      about 5°/s); drives outside [0, 5] act through the CPG's saturation.
    - ``"cpg_discrete"``: ``Discrete(3 × len(drive_levels))``; action ``a`` means level
      ``d = drive_levels[a // 3]`` and turn ``("left", "straight", "right")[a % 3]``.
      ``turn_style="sharp"``: straight is (d, d); a swimming level (d > 3) turns left with
      drives (d, 0) and right with (0, d): the inner side falls silent and the outer body
      wave curls the animal round; a walking level (d ≤ 3) turns left with (5, d) and right
      with (d, 5) (see ``SalamanderWalkEnv``). ``turn_style="offset"``: a turn adds
      ``±turn_offset`` to the left drive and ``∓turn_offset`` to the right one (v0).
      Turn rates, body axis after 5 s of a 15 s hold (``gaits.discrete_turn_rates``, in
      water; + = left):

      | level | left: drives, rate | right: drives, rate | path speed |
      |---|---|---|---|
      | 3.5 | (3.5, 0), +13.8°/s | (0, 3.5), −13.3°/s | 0.04 m/s |
      | 4.0 | (4, 0), +17.6°/s | (0, 4), −17.1°/s | 0.045 m/s |
      | 4.5 | (4.5, 0), +23.3°/s | (0, 4.5), −23.0°/s | 0.05 m/s |

    - ``"joints"``: ``Box(-1, 1, (20,))``, joint position targets scaled to each actuator's
      control range, in ``model.JOINT_NAMES`` order (8 spine joints, then LF, RF, LH, RH
      yaw/lift/knee).

    ## Observation space
    ``observation="full"`` (``Box(-inf, inf)``, float64), in this order:

    | index | meaning | unit |
    |---|---|---|
    | 0–19 | joint angles, ``model.JOINT_NAMES`` order | rad |
    | 20–23 | head orientation quaternion (w, x, y, z), IMU (heading removed: ``compass``) | – |
    | 24–43 | joint velocities | rad/s |
    | 44 | head height (water surface at 0) | m |
    | 45–47 | head linear velocity, head frame | m/s |
    | 48–50 | head angular velocity, head frame | rad/s |
    | 51–110 | CPG state: cos θ, sin θ, r of the 20 oscillators (``cpg*`` only) | –, rad |
    | 51–122 | neural CPG state: firing rates of the 72 neurons (``neural_cpg*`` only) | – |
    | last 2 | cos, sin of the heading target in the head frame | – |

    ``observation="partial"``: joint angles, head quaternion and the heading target only
    (26 values): no velocities, no CPG state.

    ## Rewards
    ``reward_forward`` (COM velocity along the heading, m/s) + ``reward_energy``
    (−``energy_weight`` × mechanical power Σ|τ q̇| in W, sampled every CPG step).

    ## Starting state
    Head 2 m beyond the end of the ramp, 1 cm under water, yaw = heading ± 0.1 rad, spine
    angles uniform in ±``reset_noise_scale`` rad, legs folded back along the body
    (``start_posture="folded"``: the posture the motor map holds at drive 0, so the start
    itself moves nothing: less than 1 cm in 10 s at drive 0), CPG phases uniform,
    amplitudes zero.

    ## Episode end
    Never terminates; truncated after 500 steps (20 s) by the registration.

    ## Info
    ``reward_*`` terms (after a step), ``com_position`` [3] (m), ``com_velocity`` [3]
    (m/s, over the control step), ``power`` (W), ``drives`` [2], ``links_in_water`` [17]
    bool.

    ## Arguments
    ``control`` (``"cpg"``), ``observation`` (``"full"``), ``drive_levels`` (3.5, 4, 4.5;
    each in [0, 5]), ``turn_style`` (``"sharp"`` or ``"offset"``), ``turn_offset`` (0.25,
    [0, 5], ``"offset"`` only), ``energy_weight`` (0.1 per W, [0, 100]), ``heading`` (0 rad,
    [−2π, 2π]), ``start_yaw_noise`` (0.1 rad, [0, π]), ``frame_skip`` (8: 40 ms control
    period), ``timestep`` (0.005 s, (0, 0.01]), ``cpg_dt`` (0.01 s, (0, 0.1], a multiple of
    ``timestep``), ``reset_noise_scale`` (0.05 rad, [0, 1]), ``rotational_drag`` (1.1, the
    cylinder's cross-flow drag coefficient, [0, 10]), ``start_posture`` (``"folded"`` or
    ``"spread"``), ``compass`` (True: the orientation includes the heading; False: roll and
    pitch only, as a vestibular sense without a compass), ``body``, ``arena``,
    ``motor_map``, ``render_mode`` (``"rgb_array"``, tracking camera), ``width``, ``height``
    (pixels). A bad value raises ``ValueError``.

    ## Version history
    - v1: rotational water drag on every link (``rotational_drag=1.1``); legs folded at
      the start (v0's sideways legs folded back at drive 0, a paddle stroke that carried
      the animal 0.29 m); sharp ``cpg_discrete`` turns (v0: ±0.25 drive, 1.5–3°/s in water
      and the wrong way on land); a native vector env.
    - v0: ``rotational_drag=0``, ``turn_style="offset"``, ``start_posture="spread"``
      (registered with these; otherwise the same code).
    """

    task_class = SwimTask


class SalamanderSwimVectorEnv(SalamanderVectorEnv):
    """``num_envs`` × ``SalamanderSwimEnv`` in one batch (see ``SalamanderVectorEnv``)."""

    task_class = SwimTask
