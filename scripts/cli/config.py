"""Training-run configuration: presets, YAML files and ``--set`` overrides, validated up front.

A run is described by one mapping (the ``config.yaml`` of its run directory)::

    env: stateful_rl/OccludedCatch-v0   # any registered Gymnasium id with Discrete actions
    env_kwargs: {}                      # keyword arguments of gymnasium.make
    agent: recurrent-dqn                # a key of stateful_rl.agents.AGENTS
    steps: 30000                        # env steps to train
    seed: 0
    device: auto
    n_envs: 1                           # training envs (gymnasium.make_vec when > 1)
    checkpoint_freq: 5000               # env steps between training-state checkpoints
    log_interval: 1000                  # env steps between progress.csv rows
    eval_episodes: 100                  # episodes of the final evaluation (eval.json)
    hyperparams: {encoder: gru, ...}    # fields of the agent's config dataclass

Layers, later ones win: the defaults above, the agent's preset
(``stateful_rl/presets/<agent>.yaml``: an entry ``default`` and one per env id, as in
rl-baselines3-zoo), the ``--config`` file, ``--set key=value`` (dotted keys such as
``hyperparams.learning_rate=1e-3``; a bare hyper-parameter name also works), then the
explicit command-line flags. Any problem raises :class:`ConfigError` naming the key and the
allowed values, before anything is written.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.agents import AGENTS, BaseAgent
from stateful_rl.agents.config import check_type as agent_check_type
from stateful_rl.encoders import ENCODERS
from stateful_rl.envs.registration import NAMESPACE


class ConfigError(ValueError):
    """An invalid run configuration (the CLI prints it and exits with status 2)."""


@dataclass
class RunConfig:
    """A validated run; see the module docstring for each key."""

    env: str
    agent: str
    steps: int = 100_000
    seed: int = 0
    device: str = "auto"
    n_envs: int = 1
    checkpoint_freq: int = 10_000
    log_interval: int = 1_000
    eval_episodes: int = 100
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    hyperparams: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


RUN_KEYS = [f.name for f in dataclasses.fields(RunConfig)]
MINIMUM = {"steps": 1, "n_envs": 1, "checkpoint_freq": 0, "log_interval": 1, "eval_episodes": 1}


def agent_class(name: str) -> type[BaseAgent]:
    """The class an ``AGENTS`` name builds."""
    return AGENTS[name].cls


def hyperparam_names(agent: str) -> list[str]:
    """The fields of the agent's config dataclass (what ``hyperparams`` may hold)."""
    return [f.name for f in dataclasses.fields(agent_class(agent).config_class)]


def resolve_env_id(env_id: str) -> str:
    """``env_id`` as registered; our ids may omit the ``stateful_rl/`` namespace."""
    if env_id not in gym.registry and f"{NAMESPACE}/{env_id}" in gym.registry:
        return f"{NAMESPACE}/{env_id}"
    return env_id


def parse_value(text: str) -> Any:
    """A ``--set`` value: YAML (numbers, lists, mappings, true/null), then ``1e-3``-style floats."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def nest(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """``[("a.b", 1), ("c", "x")]`` -> ``{"a": {"b": 1}, "c": "x"}``."""
    result: dict[str, Any] = {}
    for key, value in items:
        *parents, leaf = key.split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a mapping")
        node[leaf] = value
    return result


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``--set`` items ``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}``."""
    pairs = []
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        pairs.append((key, parse_value(text)))
    return nest(pairs)


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict update (mappings merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file holding one mapping (a ``ConfigError`` otherwise)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    return data


def preset(agent: str, env_id: str, encoder: str | None = None) -> dict[str, Any]:
    """The agent's preset for ``env_id``: its ``default`` entry updated by the env's entry,
    then by the env entry's ``encoders: {<encoder>: {...}}`` entry for ``encoder`` (a recipe
    that differs by encoder, e.g. an LSTM that needs longer sequences than a GRU). Without
    ``encoder``: the one the agent fixes, else the preset's, else the agent's default."""
    source = resources.files("stateful_rl.cli.presets").joinpath(f"{agent}.yaml")
    if not source.is_file():
        return {}
    entries = yaml.safe_load(source.read_text()) or {}
    values = merge(entries.get("default", {}), entries.get(env_id, {}))
    by_encoder = values.pop("encoders", {})
    unknown = sorted(set(by_encoder) - set(ENCODERS))
    if unknown:
        raise ConfigError(f"preset {agent}.yaml, {env_id}: unknown encoders {unknown}")
    if encoder is None:
        encoder = AGENTS[agent].fixed.get("encoder") or values.get("hyperparams", {}).get(
            "encoder", getattr(agent_class(agent).config_class, "encoder", None)
        )
    return merge(values, by_encoder.get(encoder, {}))


def check_type(key: str, value: Any, kind: Any) -> Any:
    """:func:`stateful_rl.agents.config.check_type`, its error a :class:`ConfigError`."""
    try:
        return agent_check_type(key, value, kind)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def check_choice(key: str, value: str, allowed: list[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {key} {value!r}; allowed: {', '.join(allowed)}")


def check_hyperparams(agent: str, values: dict[str, Any]) -> dict[str, Any]:
    """Every field of the agent's config dataclass, type-checked and range-checked."""
    config_class = agent_class(agent).config_class
    hints = typing.get_type_hints(config_class)
    checked = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(
                f"unknown hyperparams key {key!r} for agent {agent!r}; allowed: {', '.join(hints)}"
            )
        checked[key] = check_type(f"hyperparams.{key}", value, hints[key])
    if "encoder" in checked:
        check_choice("hyperparams.encoder", checked["encoder"], list(ENCODERS))
    try:
        resolved = config_class(**checked)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"hyperparams: {error}") from None
    return {
        f.name: list(v) if isinstance(v := getattr(resolved, f.name), tuple) else v
        for f in dataclasses.fields(resolved)
    }


# Keyword arguments of gymnasium.make / make_vec themselves: not env settings.
GYM_MAKE_ARGUMENTS = (
    "vectorization_mode",
    "vector_kwargs",
    "wrappers",
    "num_envs",
    "render_mode",
    "apply_api_compatibility",
    "disable_env_checker",
)
IMPORT_STRING = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def check_data(key: str, value: Any) -> None:
    """Refuse, anywhere inside ``value``, a string shaped like an import path
    (``module:attribute``): values read from configs are data, never code to load."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_data(f"{key}.{k}", v)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_data(f"{key}[{i}]", v)
    elif isinstance(value, str) and IMPORT_STRING.match(value):
        raise ConfigError(
            f"{key} = {value!r} looks like an import path ('module:attribute'); configs hold "
            "data only, so it is refused"
        )


def check_env(env_id: str, env_kwargs: dict[str, Any]) -> None:
    """The env is registered, accepts ``env_kwargs`` and has the Discrete actions the agents
    need. Module-qualified ids (``"pkg:Env-v0"``, which Gymnasium imports) are refused: a run
    config must not name code to import; ``--import PKG`` on the command line does that."""
    if ":" in env_id:
        raise ConfigError(
            f"env {env_id!r} names a module to import; configs may only name registered ids: "
            "pass --import MODULE on the command line and the bare id"
        )
    reserved = sorted(set(env_kwargs) & set(GYM_MAKE_ARGUMENTS))
    if reserved:
        raise ConfigError(f"env_kwargs {reserved} are arguments of gymnasium.make, not of the env")
    check_data("env_kwargs", env_kwargs)
    if env_id not in gym.registry:
        ours = sorted(k for k in gym.registry if k.startswith(f"{NAMESPACE}/"))
        raise ConfigError(
            f"unknown env {env_id!r}; allowed: {', '.join(ours)} "
            "(the stateful_rl/ prefix may be omitted), any registered Gymnasium id, or an id "
            "your package registers (--import PACKAGE)"
        )
    try:
        env = gym.make(env_id, **env_kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"env_kwargs for {env_id}: {error}") from None
    action_space = env.action_space
    env.close()
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ConfigError(
            f"env {env_id!r} has actions {action_space}; the value-based agents need Discrete"
        )


def resolve_config(
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    flags: dict[str, Any] | None = None,
) -> RunConfig:
    """Merge defaults, preset, file, overrides and flags (``None`` flags are unset); validate."""
    user = merge(load_yaml(config_file) if config_file else {}, overrides or {})
    user = merge(user, {k: v for k, v in (flags or {}).items() if v is not None})
    check_data("config", {k: v for k, v in user.items() if k != "env"})
    for key in ("env", "agent"):
        if key not in user:
            raise ConfigError(f"no {key} given: use --{key} or put {key}: in the --config file")
        check_type(key, user[key], str)
    check_choice("agent", user["agent"], list(AGENTS))
    agent, env_id = user["agent"], resolve_env_id(user["env"])
    user["env"] = env_id
    # Bare hyper-parameter names (``--set learning_rate=1e-3``) belong to ``hyperparams``.
    hyper_fields = hyperparam_names(agent)
    bare = {k: user.pop(k) for k in list(user) if k not in RUN_KEYS and k in hyper_fields}
    user = merge(user, {"hyperparams": bare})
    unknown = sorted(set(user) - set(RUN_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {unknown}; allowed: {', '.join(RUN_KEYS)}, or a "
            f"hyper-parameter of {agent!r}: {', '.join(sorted(hyper_fields))}"
        )
    given = user.get("hyperparams")
    encoder = given.get("encoder") if isinstance(given, dict) else None
    values = merge(preset(agent, env_id, encoder if isinstance(encoder, str) else None), user)
    hints = typing.get_type_hints(RunConfig)
    values = {k: check_type(k, v, hints[k]) for k, v in values.items()}
    for key, low in MINIMUM.items():
        if key in values and values[key] < low:
            raise ConfigError(f"{key} must be >= {low}, got {values[key]}")
    if "encoder" in values.get("hyperparams", {}) and "encoder" not in hyper_fields:
        raise ConfigError(
            f"agent {agent!r} has no encoder; --encoder applies to: "
            + ", ".join(a for a in AGENTS if "encoder" in hyperparam_names(a))
        )
    fixed_hyperparams = dict(AGENTS[agent].fixed)
    for key, fixed in fixed_hyperparams.items():
        given = values.get("hyperparams", {}).get(key, fixed)
        if (list(given) if isinstance(given, tuple) else given) != fixed:
            raise ConfigError(f"agent {agent!r} fixes hyperparams.{key} = {fixed!r}, got {given!r}")
    values["hyperparams"] = merge(values.get("hyperparams", {}), fixed_hyperparams)
    values["hyperparams"] = check_hyperparams(agent, values["hyperparams"])
    config = RunConfig(**values)
    check_device(config.device)
    check_env(config.env, config.env_kwargs)
    return config


def check_device(device: str) -> None:
    """``auto``, ``cpu``, ``cuda``/``cuda:N`` or ``mps``, present on this machine (a run on
    another device than the one asked for would be recorded wrongly)."""
    import torch

    if device == "auto":
        return
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise ConfigError(f"device {device!r}: {error}; allowed: auto, cpu, cuda, cuda:N") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (parsed.index or 0) >= count:
            found = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise ConfigError(f"device {device!r}: this machine has {found}; use auto or cpu")
    elif parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"device {device!r}: MPS is not available here; use auto or cpu")
    elif parsed.type != "cpu":
        raise ConfigError(f"device {device!r}: allowed: auto, cpu, cuda, cuda:N, mps")


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The validated ``config.yaml`` of a run directory."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
    data = load_yaml(path)
    return resolve_config(overrides=data)
