"""Registration of the salamander ids; importing this module must not import mujoco."""

from __future__ import annotations


def register_salamander_envs() -> None:
    """Register ``stateful_rl/Salamander*-v0`` (filled in by the salamander issue)."""
