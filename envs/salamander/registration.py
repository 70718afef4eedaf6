"""Registration of the salamander ids; importing this module must not import mujoco."""

from __future__ import annotations

from stateful_rl.envs.registration import register

# (name, entry point, max_episode_steps at the 40 ms control period)
SALAMANDER_ENVS = (
    ("SalamanderSwim-v0", "stateful_rl.envs.salamander.swim:SalamanderSwimEnv", 500),
    ("SalamanderWalk-v0", "stateful_rl.envs.salamander.walk:SalamanderWalkEnv", 500),
    (
        "SalamanderAmphibious-v0",
        "stateful_rl.envs.salamander.amphibious:SalamanderAmphibiousEnv",
        1000,
    ),
    ("SalamanderTarget-v0", "stateful_rl.envs.salamander.target:SalamanderTargetEnv", 1500),
)


def register_salamander_envs() -> None:
    """Register ``stateful_rl/Salamander*-v0`` (string entry points: mujoco loads on make)."""
    for name, entry_point, max_steps in SALAMANDER_ENVS:
        register(name, entry_point=entry_point, max_episode_steps=max_steps)
