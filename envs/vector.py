"""Helpers shared by the native vector environments and their single-env twins."""

from __future__ import annotations

import math
import operator
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray


def seed_generators(seed: int | list[int] | None, num_envs: int) -> list[np.random.Generator]:
    """One generator per sub-env: ``seed + i`` (as ``SyncVectorEnv``), a list, or fresh."""
    if seed is None:
        seeds: list[int | None] = [None] * num_envs
    elif isinstance(seed, int):
        seeds = [seed + i for i in range(num_envs)]
    elif len(seed) == num_envs:
        seeds = list(seed)
    else:
        raise ValueError(f"need one seed per sub-env ({num_envs}), got {len(seed)}")
    return [seeding.np_random(s)[0] for s in seeds]


def check_render_mode(render_mode: str | None) -> str | None:
    """``render_mode`` if it is None or ``"rgb_array"`` (our only mode), else ``ValueError``."""
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
    return render_mode


def cannot_render(render_mode: str | None) -> bool:
    """True (with Gymnasium's warning) when ``render()`` is called without a render mode."""
    if render_mode is None:
        gym.logger.warn("render() called without render_mode='rgb_array'")
    return render_mode is None


def describe_range(low: float, high: float, open_low: bool = False) -> str:
    """``"in [low, high]"``, ``"in (low, high]"`` or ``">= low"`` for error messages."""
    if high == math.inf:
        return f"> {low}" if open_low else f">= {low}"
    return f"in {'(' if open_low else '['}{low}, {high}]"


def check_number(
    name: str, value: Any, low: float, high: float = math.inf, *, open_low: bool = False
) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` with ``open_low``),
    else a ``ValueError`` naming ``name`` and the range (NaN and infinities included)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    inside = low < x <= high if open_low else low <= x <= high
    if not (math.isfinite(x) and inside):
        allowed = describe_range(low, high, open_low)
        raise ValueError(f"{name} must be a finite number {allowed}, got {value!r}")
    return x


def check_integer(name: str, value: Any, low: int, high: float = math.inf) -> int:
    """``value`` as an int in ``[low, high]``, else a ``ValueError`` naming ``name``."""
    try:
        n = operator.index(value)
    except TypeError:
        n = None
    if n is None or not low <= n <= high:
        allowed = describe_range(low, high)
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return n


def check_action(action: Any, n: int) -> int:
    """``action`` as an int in ``[0, n)``, else ``ValueError`` (cheap: no space lookup)."""
    try:
        a = operator.index(action)
    except TypeError:
        raise ValueError(f"action must be an integer in [0, {n}), got {action!r}") from None
    if not 0 <= a < n:
        raise ValueError(f"action must be an integer in [0, {n}), got {action!r}")
    return a


def check_actions(actions: Any, num_envs: int, n: int) -> NDArray[np.int64]:
    """``actions`` as an int array ``[num_envs]`` with values in ``[0, n)``, else ``ValueError``."""
    actions = np.asarray(actions)
    if actions.shape != (num_envs,) or actions.dtype.kind not in "iu":
        raise ValueError(
            f"actions must be integers of shape ({num_envs},), got {actions.dtype} {actions.shape}"
        )
    if actions.size and (actions.min() < 0 or actions.max() >= n):
        raise ValueError(f"actions must lie in [0, {n}), got {actions}")
    return actions


class NativeVectorEnv(VectorEnv):
    """Batch bookkeeping shared by the numpy vector envs: seeding, autoreset, truncation.

    Autoreset: ``AutoresetMode.NEXT_STEP`` (Gymnasium's default, as ``SyncVectorEnv``):
    the step after a sub-env ends ignores its action and returns its first observation of
    the next episode with reward 0 and ``terminated = truncated = False``. Sub-env ``i``
    reset with ``seed`` uses generator ``seed + i``, so its trajectory equals a single env
    reset with that seed and stepped with the same actions. Subclasses implement
    ``_reset_env(i)`` (or a batched ``_reset_envs(mask)``), ``_advance(actions, active)``,
    ``_observe()`` and ``_outcome(info)``, and ``_check_actions`` for other than
    ``Discrete`` action spaces.
    """

    # An instance attribute, as Gymnasium declares it: an env may replace its own.
    metadata: dict[str, Any] = {  # noqa: RUF012
        "render_modes": ["rgb_array"],
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int,
        max_episode_steps: int | None,
        render_mode: str | None,
        observation_space: spaces.Space,
        action_space: spaces.Space,
    ) -> None:
        self.num_envs = check_integer("num_envs", num_envs, 1)
        self.render_mode = check_render_mode(render_mode)
        self.max_episode_steps = max_episode_steps or np.iinfo(np.int64).max
        self.single_observation_space = observation_space
        self.single_action_space = action_space
        self.observation_space = batch_space(observation_space, num_envs)
        self.action_space = batch_space(action_space, num_envs)
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._prev_done = np.zeros(num_envs, dtype=bool)
        self._rngs: list[np.random.Generator] = []

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray, dict[str, Any]]:
        if seed is not None or not self._rngs:
            self._rngs = seed_generators(seed, self.num_envs)
            self._seeded()
        self._reset_envs(np.ones(self.num_envs, dtype=bool))
        self._steps[:] = 0
        self._prev_done[:] = False
        return self._observe()

    def step(self, actions: NDArray) -> tuple[NDArray, NDArray, NDArray, NDArray, dict]:
        done = self._prev_done
        self._advance(self._check_actions(actions), ~done)
        self._steps += 1
        if done.any():
            self._reset_envs(done)
        self._steps[done] = 0
        obs, info = self._observe()
        reward, terminated = self._outcome(info)
        reward = np.where(done, 0.0, reward)
        terminated = terminated & ~done
        truncated = (self._steps >= self.max_episode_steps) & ~done
        self._prev_done = terminated | truncated
        return obs, reward, terminated, truncated, info

    def _check_actions(self, actions: Any) -> NDArray:
        """``actions`` as an array the sub-envs accept (here: ints of a ``Discrete`` space),
        else ``ValueError``."""
        space = self.single_action_space
        if not isinstance(space, spaces.Discrete):
            raise NotImplementedError(f"{type(self).__name__} must override _check_actions")
        return check_actions(actions, self.num_envs, int(space.n))

    def _seeded(self) -> None:
        """Hook: the generators were just (re)created."""

    def _reset_envs(self, mask: NDArray[np.bool_]) -> None:
        """Start a new episode in the sub-envs where ``mask`` is set."""
        for i in np.flatnonzero(mask):
            self._reset_env(int(i))

    def _reset_env(self, i: int) -> None:
        raise NotImplementedError

    def _advance(self, actions: NDArray[np.int64], active: NDArray[np.bool_]) -> None:
        raise NotImplementedError

    def _observe(self) -> tuple[NDArray, dict[str, Any]]:
        raise NotImplementedError

    def _outcome(self, info: dict[str, Any]) -> tuple[NDArray, NDArray[np.bool_]]:
        raise NotImplementedError


def upscale(image: NDArray[np.uint8], factor: int) -> NDArray[np.uint8]:
    """Nearest-neighbour enlargement of an ``[H, W, 3]`` image (for ``render``)."""
    return image.repeat(factor, axis=0).repeat(factor, axis=1)
