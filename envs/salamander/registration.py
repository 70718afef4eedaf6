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
SALAMANDER_ENVS = tuple(
    (f"{name}-{version}", f"{PACKAGE}.{entry}Env", steps)
    for version in ("v0", "v1")
    for name, entry, steps in SALAMANDER_TASKS
)


def register_salamander_envs() -> None:
    """Register ``stateful_rl/Salamander*-v0`` and ``-v1`` (string entry points: mujoco
    loads on make); the v1 ids also have a native ``vector_entry_point``."""
    for name, entry, steps in SALAMANDER_TASKS:
        entry_point = f"{PACKAGE}.{entry}Env"
        register(f"{name}-v0", entry_point=entry_point, max_episode_steps=steps, kwargs=V0_KWARGS)
        register(
            f"{name}-v1",
            entry_point=entry_point,
            vector_entry_point=f"{PACKAGE}.{entry}VectorEnv",
            max_episode_steps=steps,
        )
