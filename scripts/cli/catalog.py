"""What ``stateful-rl list`` prints: our environments (spaces, one line each), agents, encoders."""

from __future__ import annotations

import warnings

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stateful_rl.agents import AGENTS
from stateful_rl.encoders import ENCODERS
from stateful_rl.envs.registration import NAMESPACE


def first_line(obj: object) -> str:
    """The first paragraph of ``obj``'s docstring on one line ('' if it has none)."""
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""


def describe_env(env_id: str) -> str:
    """One line: the docstring of the id's registered entry point (its class or factory)."""
    entry_point = gym.spec(env_id).entry_point
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    return first_line(creator)


def env_rows() -> list[tuple[str, str, str, str, str]]:
    """(id, observation space, action space, which agents, description) of every
    ``stateful_rl/`` id with its default arguments."""
    rows = []
    ids = sorted(k for k in gym.registry if k.startswith(f"{NAMESPACE}/"))
    latest: dict[str, int] = {}
    for env_id in ids:
        spec = gym.spec(env_id)
        latest[spec.name] = max(latest.get(spec.name, -1), spec.version or 0)
    for env_id in ids:
        spec = gym.spec(env_id)
        with warnings.catch_warnings():  # older versions are listed on purpose, and marked
            warnings.simplefilter("ignore", DeprecationWarning)
            env = gym.make(env_id)
        description = describe_env(env_id)
        if (spec.version or 0) < latest[spec.name]:
            description = f"(kept for reproducibility; latest: v{latest[spec.name]}) {description}"
        discrete = isinstance(env.action_space, gym.spaces.Discrete)
        agents = "all" if discrete else "none as is (continuous actions)"
        if not discrete and "control" in getattr(env.unwrapped, "__dict__", {}):
            agents += "; all with control='cpg_discrete'"
        rows.append(
            (
                env_id,
                str(env.observation_space),
                str(env.action_space),
                agents,
                description,
            )
        )
        env.close()
    return rows


def print_catalog(console: Console | None = None) -> None:
    """Print the three tables."""
    console = console or Console()
    if not console.is_terminal:  # piped: one row per line, for grep
        console = Console(width=240)
    envs = Table(title="Environments (the agents here need Discrete actions)")
    envs.add_column("id", no_wrap=True)
    for column in ("observation space", "action space", "agents", "description"):
        envs.add_column(column, overflow="fold")
    for row in env_rows():
        envs.add_row(*(escape(cell) for cell in row))
    agents = Table(title="Agents (stateful-rl train --agent NAME)")
    agents.add_column("name", no_wrap=True)
    agents.add_column("class")
    agents.add_column("description", overflow="fold")
    for name, named in AGENTS.items():
        agents.add_row(name, named.cls.__name__, named.description)
    encoders = Table(title="Encoders (--encoder NAME, recurrent agents)")
    encoders.add_column("name", no_wrap=True)
    encoders.add_column("class")
    encoders.add_column("description", overflow="fold")
    for name, cls in ENCODERS.items():
        encoders.add_row(name, cls.__name__, first_line(cls))
    for table in (envs, agents, encoders):
        console.print(table)
