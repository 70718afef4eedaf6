"""What ``stateful-rl list`` prints: our environments (spaces, one line each), agents, encoders."""

from __future__ import annotations

import gymnasium as gym
from rich.console import Console
from rich.table import Table

from stateful_rl.agents import AGENTS
from stateful_rl.cli.config import agent_class
from stateful_rl.encoders import ENCODERS
from stateful_rl.envs.registration import NAMESPACE


def first_line(obj: object) -> str:
    """The first line of ``obj``'s docstring ('' if it has none)."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def describe_env(env: gym.Env) -> str:
    """One line: the docstring of our outermost class (a wrapper names the base env too)."""
    layer = env
    while type(layer).__module__.startswith("gymnasium.") and hasattr(layer, "env"):
        layer = layer.env  # skip Gymnasium's standard wrappers (TimeLimit, OrderEnforcing...)
    text = first_line(type(layer))
    if layer is not env.unwrapped:
        text += f" (on {type(env.unwrapped).__name__})"
    return text


def env_rows() -> list[tuple[str, str, str, str]]:
    """(id, observation space, action space, description) of every ``stateful_rl/`` id."""
    rows = []
    for env_id in sorted(k for k in gym.registry if k.startswith(f"{NAMESPACE}/")):
        env = gym.make(env_id)
        rows.append((env_id, str(env.observation_space), str(env.action_space), describe_env(env)))
        env.close()
    return rows


def print_catalog(console: Console | None = None) -> None:
    """Print the three tables."""
    console = console or Console()
    if not console.is_terminal:  # piped: one row per line, for grep
        console = Console(width=240)
    envs = Table(title="Environments (Discrete actions: usable by every agent here)")
    envs.add_column("id", no_wrap=True)
    for column in ("observation space", "action space", "description"):
        envs.add_column(column, overflow="fold")
    for row in env_rows():
        envs.add_row(*row)
    agents = Table(title="Agents (stateful-rl train --agent NAME)")
    agents.add_column("name", no_wrap=True)
    agents.add_column("class")
    agents.add_column("description", overflow="fold")
    for name, constructor in AGENTS.items():
        agents.add_row(name, agent_class(name).__name__, first_line(constructor))
    encoders = Table(title="Encoders (--encoder NAME, recurrent agents)")
    encoders.add_column("name", no_wrap=True)
    encoders.add_column("class")
    encoders.add_column("description", overflow="fold")
    for name, cls in ENCODERS.items():
        encoders.add_row(name, cls.__name__, first_line(cls))
    for table in (envs, agents, encoders):
        console.print(table)
