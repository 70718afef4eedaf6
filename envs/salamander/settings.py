"""The validated settings shared by every salamander environment (task-free arguments)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from stateful_rl.envs.salamander.checks import check_choice, check_float, check_int
from stateful_rl.envs.salamander.cpg import BODY_DRIVE, MotorMap
from stateful_rl.envs.salamander.model import Arena, SalamanderBody
from stateful_rl.envs.salamander.neural_cpg import NeuralMotorMap

# The 2007 phase-oscillator CPG (cpg, cpg_discrete), the 2001 connectionist one
# (neural_cpg, neural_cpg_discrete), or the joint targets themselves.
CONTROLS = ("cpg_discrete", "cpg", "joints", "neural_cpg", "neural_cpg_discrete")
OBSERVATIONS = ("full", "partial")
TURNS = ("left", "straight", "right")
TURN_STYLES = ("sharp", "offset")
START_POSTURES = ("folded", "spread")
RENDER_MODES = (None, "rgb_array")


@dataclass(frozen=True)
class SalamanderSettings:
    """Arguments common to the salamander environments; see ``SalamanderSwimEnv``.

    Ranges: ``drive_levels`` non-empty, each in [0, 5] (the CPG's drive range);
    ``turn_offset`` [0, 5]; ``energy_weight`` [0, 100] per W; ``frame_skip`` [1, 1000];
    ``timestep`` (0, 0.01] s (MuJoCo with these stiff joints is unstable beyond);
    ``cpg_dt`` (0, 0.1] s, a multiple of ``timestep`` that divides the control period;
    ``reset_noise_scale`` [0, 1] rad (the spine range); ``rotational_drag`` [0, 10]
    (a drag coefficient); ``width``, ``height`` [1, 8192] pixels; ``compass`` a bool.
    ``motor_map``: a ``cpg.MotorMap`` for the 2007 CPG's controls, a
    ``neural_cpg.NeuralMotorMap`` for the connectionist CPG's; ``None`` (default) takes the
    control's default map.
    """

    control: str = "cpg"
    observation: str = "full"
    drive_levels: tuple[float, ...] = (3.5, 4.0, 4.5)
    turn_style: str = "sharp"
    turn_offset: float = 0.25
    energy_weight: float = 0.1
    frame_skip: int = 8
    timestep: float = 0.005
    cpg_dt: float = 0.01
    reset_noise_scale: float = 0.05
    rotational_drag: float = 1.1
    start_posture: str = "folded"
    compass: bool = True
    body: SalamanderBody = field(default_factory=SalamanderBody)
    arena: Arena = field(default_factory=Arena)
    motor_map: MotorMap | NeuralMotorMap | None = None
    render_mode: str | None = None
    width: int = 480
    height: int = 360

    def __post_init__(self) -> None:
        check_choice("control", self.control, CONTROLS)
        check_choice("observation", self.observation, OBSERVATIONS)
        check_choice("turn_style", self.turn_style, TURN_STYLES)
        check_choice("start_posture", self.start_posture, START_POSTURES)
        check_choice("render_mode", self.render_mode, RENDER_MODES)
        if not isinstance(self.compass, bool):
            raise ValueError(f"compass must be True or False, got {self.compass!r}")
        if self.motor_map is None:
            default = NeuralMotorMap.fitted() if self.neural else MotorMap()
            object.__setattr__(self, "motor_map", default)
        kinds = {
            "body": SalamanderBody,
            "arena": Arena,
            "motor_map": NeuralMotorMap if self.neural else MotorMap,
        }
        for name, kind in kinds.items():
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"{name} must be a {kind.__name__}, got {getattr(self, name)!r}")
        try:
            levels = tuple(self.drive_levels)
        except TypeError:
            levels = ()
        if not levels:
            raise ValueError(
                f"drive_levels must be a non-empty sequence, got {self.drive_levels!r}"
            )
        levels = tuple(check_float("drive_levels", d, 0.0, BODY_DRIVE.d_high) for d in levels)
        object.__setattr__(self, "drive_levels", levels)
        for name, low, high in (
            ("turn_offset", 0.0, BODY_DRIVE.d_high),
            ("energy_weight", 0.0, 100.0),
            ("reset_noise_scale", 0.0, 1.0),
            ("rotational_drag", 0.0, 10.0),
        ):
            object.__setattr__(self, name, check_float(name, getattr(self, name), low, high))
        for name, high in (("timestep", 0.01), ("cpg_dt", 0.1)):
            object.__setattr__(
                self, name, check_float(name, getattr(self, name), 0.0, high, open_low=True)
            )
        check_int("frame_skip", self.frame_skip, 1, 1000)
        check_int("width", self.width, 1, 8192)
        check_int("height", self.height, 1, 8192)
        ratio = self.cpg_dt / self.timestep
        if not math.isclose(ratio, round(ratio)) or round(ratio) < 1:
            raise ValueError(
                f"cpg_dt ({self.cpg_dt}) must be a positive multiple of timestep ({self.timestep})"
            )
        if self.frame_skip % self.steps_per_cpg:
            raise ValueError(
                f"frame_skip ({self.frame_skip}) must be a multiple of cpg_dt / timestep "
                f"({self.steps_per_cpg})"
            )

    @property
    def neural(self) -> bool:
        """Whether the control is the connectionist CPG's."""
        return self.control.startswith("neural_cpg")

    @property
    def discrete(self) -> bool:
        """Whether actions are indices into the table of drives (``*_discrete``)."""
        return self.control.endswith("_discrete")

    @property
    def steps_per_cpg(self) -> int:
        """Physics steps per CPG step."""
        return round(self.cpg_dt / self.timestep)

    @property
    def cpg_steps(self) -> int:
        """CPG steps (joint-target updates) per control step."""
        return self.frame_skip // self.steps_per_cpg

    @property
    def control_dt(self) -> float:
        """Control period (s)."""
        return self.frame_skip * self.timestep
