"""``stateful_rl/SalamanderSwim-v0``: swim along a heading in the pool."""

from __future__ import annotations

from stateful_rl.envs.salamander.locomotion import HeadingEnv


class SalamanderSwimEnv(HeadingEnv):
    """Swim as fast as possible along a heading target (default +x) in deep water.

    ## Description
    A 0.45 m, 20-actuator salamander (``model.SalamanderBody``) floats in a 0.3 m deep pool
    (``model.Arena``) under per-link drag and buoyancy (``water.WaterForces``), driven by
    Ijspeert's 2007 phase-oscillator CPG (``control="cpg"`` or ``"cpg_discrete"``), by his
    2001 connectionist CPG, a fitted rate-neuron network (``control="neural_cpg"`` or
    ``"neural_cpg_discrete"``, ``neural_cpg.NeuralSalamanderCPG``), or directly through its
    joint position targets (``control="joints"``). With either CPG, drives in (3, 5] give
    the swimming gait: a travelling body wave, limbs folded back.

    ## Action space
    - ``"cpg"``: ``Box(0, 5, (2,))``, the left and right drives. Larger left than right
      drive turns the swimming animal left (anticlockwise seen from above; about +45° in
      15 s for drives 4.5/3.5); drives outside [0, 5] act through the CPG's saturation.
    - ``"neural_cpg"``: the same drives as tonic excitation of the connectionist CPG's
      neurons: swimming at d >= 3.5, walking at d <= 2.5, the limbs fading out in between.
      More drive on one side makes that side's motoneurons fire more, yet the animal turns
      the other way round from the 2007 CPG: right when swimming (about −64° in 15 s for
      drives 4.5/3.5), left when walking (a spin, +228° for 2.5/1.5).
    - ``"cpg_discrete"``, ``"neural_cpg_discrete"``: ``Discrete(3 × len(drive_levels))``;
      action ``a`` means drive ``drive_levels[a // 3]`` and turn
      ``("left", "straight", "right")[a % 3]``, a turn adding ``±turn_offset`` to the left
      drive and ``∓turn_offset`` to the right one.
    - ``"joints"``: ``Box(-1, 1, (20,))``, joint position targets scaled to each actuator's
      control range, in ``model.JOINT_NAMES`` order (8 spine joints, then LF, RF, LH, RH
      yaw/lift/knee).

    ## Observation space
    ``observation="full"`` (``Box(-inf, inf)``, float64), in this order:

    | index | meaning | unit |
    |---|---|---|
    | 0–19 | joint angles, ``model.JOINT_NAMES`` order | rad |
    | 20–23 | head orientation quaternion (w, x, y, z), IMU | – |
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
    angles uniform in ±``reset_noise_scale`` rad, CPG phases uniform, amplitudes zero.

    ## Episode end
    Never terminates; truncated after 500 steps (20 s) by the registration.

    ## Info
    ``reward_*`` terms, ``com_position`` [3] (m), ``com_velocity`` [3] (m/s, over the
    control step), ``power`` (W), ``drives`` [2], ``links_in_water`` [17] bool.

    ## Arguments
    ``control``, ``observation``, ``drive_levels`` (default (3.5, 4, 4.5)),
    ``turn_offset`` (0.25), ``energy_weight`` (0.1 per W), ``heading`` (0 rad),
    ``start_yaw_noise`` (0.1 rad),
    ``frame_skip`` (8: 40 ms control period), ``timestep`` (0.005 s), ``cpg_dt`` (0.01 s),
    ``reset_noise_scale`` (0.05 rad), ``body``, ``arena``, ``motor_map``, ``render_mode``
    (``"rgb_array"``, tracking camera), ``width``, ``height``.

    ## Version history
    - v0: initial version.
    """

    start_z = -0.01

    @property
    def start_x_offset(self) -> float:
        return self.arena.ramp_length + 2.0
