"""Agent hyper-parameters: the base config dataclass and the one type check of config values.

:func:`check_type` converts and checks a value against a field's annotation (int -> float,
list -> tuple, finite floats, unions, ``tuple[int, ...]``, ``dict``); the agents' config
dataclasses and the command line's run configs both use it, so a value is accepted or
refused the same way from Python, a YAML file or ``--set``.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, fields
from typing import Any


def type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def check_type(key: str, value: Any, kind: Any) -> Any:
    """``value`` converted to ``kind`` (int -> float, list -> tuple) or a ``ConfigError``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return check_type(key, value, option)
            except ValueError:
                pass
        raise ValueError(f"{key} must be {type_name(kind)}, got {value!r}")
    if kind is Any:
        return value
    if kind is type(None):
        if value is None:
            return None
    elif origin is tuple:
        if isinstance(value, list | tuple):
            item_kind = args[0] if args else Any
            return tuple(check_type(f"{key}[{i}]", v, item_kind) for i, v in enumerate(value))
    elif origin is dict or kind is dict:
        if isinstance(value, dict):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"{key} must be a finite number, got {value!r}")
            return float(value)
    elif isinstance(kind, type) and isinstance(value, kind):
        if not (kind is int and isinstance(value, bool)):
            return value
    raise ValueError(f"{key} must be {type_name(origin or kind)}, got {value!r}")


@dataclass
class AgentConfig:
    """Hyper-parameters every agent has.

    normalize_obs: standardise observations with running mean/std (clipped to ±10); the
        statistics are saved with the agent.
    eval_freq: env steps between evaluations that keep the best model (0: no evaluation).
    n_eval_episodes: episodes per evaluation, each with a fresh seed.
    eval_confirm: a model whose evaluation beats the best so far is evaluated again on
        ``n_eval_episodes`` fresh seeds and kept only if that mean beats the best too; the
        best score is then that second mean. The first mean is the maximum of noisy
        estimates and overrates the model it picks (the winner's curse); the second is an
        unbiased estimate, so a lucky evaluation of a worse model cannot displace a better one.
    eval_final_paired: when ``learn`` ends, the final model and the kept one play the same
        ``n_eval_episodes`` fresh episodes and the one with the higher mean is kept, scored by
        that mean. Played on the same episodes, the two means differ by the models' difference
        alone, without the episodes' own spread, which exceeds the late models' differences
        once the step size has decayed.
    """

    normalize_obs: bool = False
    eval_freq: int = 0
    n_eval_episodes: int = 10
    eval_confirm: bool = False
    eval_final_paired: bool = False

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            key = f"{type(self).__name__}.{f.name}"
            object.__setattr__(self, f.name, check_type(key, getattr(self, f.name), hints[f.name]))
        for name in ("eval_freq",):
            if getattr(self, name) < 0:
                raise ValueError(f"{type(self).__name__}.{name} must be >= 0")
        if self.n_eval_episodes < 1:
            raise ValueError(f"{type(self).__name__}.n_eval_episodes must be >= 1")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AgentConfig:
        """Build from a mapping; an unknown key raises a ``ValueError`` naming the allowed ones."""
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown {cls.__name__} key(s) {unknown}; allowed: {', '.join(allowed)}"
            )
        return cls(**values)
