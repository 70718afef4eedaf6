"""Registration of the salamander ids; importing this module must not import mujoco."""

from __future__ import annotations

from stateful_rl.envs.registration import register

PACKAGE = "stateful_rl.envs.salamander"
# (name, module:class prefix, max_episode_steps at the 40 ms control period)
SALAMANDER_TASKS = (
    ("SalamanderSwim", "swim:SalamanderSwim", 500),
    ("SalamanderWalk", "walk:SalamanderWalk", 500),
    ("SalamanderAmphibious", "amphibious:SalamanderAmphibious", 1000),
    ("SalamanderTarget", "target:SalamanderTarget", 1500),
)
# v0: no rotational water drag, small symmetric turn offsets, legs spread sideways at reset.
V0_KWARGS = {"rotational_drag": 0.0, "turn_style": "offset", "start_posture": "spread"}
# SalamanderTarget-v2: the goal shown everywhere for the first half second only, then within
# 0.5 m inside the view cone; no compass heading; a larger goal bonus; an 80 ms control
# period (375 steps: 30 s); one drive level. See the env's version history.
TARGET_V2_KWARGS = {
    "cue_time": 0.5,
    "sight_range": 0.5,
    "compass": False,
    "goal_bonus": 30.0,
    "frame_skip": 16,
    "drive_levels": (4.5,),
}
TARGET_V2 = ("SalamanderTarget-v2", 375, TARGET_V2_KWARGS)
SALAMANDER_ENVS = (
    *(
        (f"{name}-{version}", f"{PACKAGE}.{entry}Env", steps)
        for version in ("v0", "v1")
        for name, entry, steps in SALAMANDER_TASKS
    ),
    (TARGET_V2[0], f"{PACKAGE}.target:SalamanderTargetEnv", TARGET_V2[1]),
)


def register_salamander_envs() -> None:
    """Register ``stateful_rl/Salamander*-v0`` and ``-v1``, and ``SalamanderTarget-v2``
    (string entry points: mujoco loads on make); the v1 and v2 ids also have a native
    ``vector_entry_point``."""
    for name, entry, steps in SALAMANDER_TASKS:
        entry_point = f"{PACKAGE}.{entry}Env"
        register(f"{name}-v0", entry_point=entry_point, max_episode_steps=steps, kwargs=V0_KWARGS)
        register(
            f"{name}-v1",
            entry_point=entry_point,
            vector_entry_point=f"{PACKAGE}.{entry}VectorEnv",
            max_episode_steps=steps,
        )
    name, steps, kwargs = TARGET_V2
    register(
        name,
        entry_point=f"{PACKAGE}.target:SalamanderTargetEnv",
        vector_entry_point=f"{PACKAGE}.target:SalamanderTargetVectorEnv",
        max_episode_steps=steps,
        kwargs=kwargs,
    )
