"""Memory wrappers: turn any Gymnasium env with a Box observation into a partially observed one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray


class MaskObservation(gym.ObservationWrapper):
    """Keep only the observation entries ``keep`` (e.g. drop velocities: CartPoleNoVel).

    Args:
        env: env with a 1-D ``Box`` observation space.
        keep: indices to keep, in order.
    """

    def __init__(self, env: gym.Env, keep: Sequence[int]) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"MaskObservation needs a 1-D Box observation space, got {space}")
        self.keep = np.asarray(keep, dtype=np.int64)
        if self.keep.size == 0 or self.keep.min() < 0 or self.keep.max() >= space.shape[0]:
            raise ValueError(f"keep={list(keep)} must be non-empty indices into {space.shape}")
        self.observation_space = spaces.Box(
            space.low[self.keep], space.high[self.keep], dtype=space.dtype
        )

    def observation(self, observation: NDArray) -> NDArray:
        return observation[self.keep]


class _Blackout(gym.ObservationWrapper):
    """Base of the wrappers that zero the whole observation at random steps.

    Owns a generator seeded from ``reset(seed=...)`` (distinct from the env's stream), so
    the blackouts are reproducible without changing the wrapped env's randomness.
    ``info["blackout"]`` says whether the returned observation was zeroed.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if not isinstance(env.observation_space, spaces.Box):
            raise ValueError(f"{type(self).__name__} needs a Box observation space")
        if not env.observation_space.contains(np.zeros_like(env.observation_space.low)):
            raise ValueError("the zero observation must lie in the observation space")
        self._rng = np.random.default_rng()
        self._hidden = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng((seed, 0x5EED))  # not the env's own stream
        self._start_episode()
        obs, info = super().reset(seed=seed, options=options)
        return obs, info | {"blackout": self._hidden}

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, info | {"blackout": self._hidden}

    def observation(self, observation: NDArray) -> NDArray:
        self._hidden = self._next_hidden()
        return np.zeros_like(observation) if self._hidden else observation

    def _start_episode(self) -> None:
        """Hook: clear per-episode state."""

    def _next_hidden(self) -> bool:
        raise NotImplementedError


class Flicker(_Blackout):
    """Zero the whole observation with probability ``p`` at each step (DRQN's flickering
    Atari, Hausknecht & Stone 2015).
    """

    def __init__(self, env: gym.Env, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        super().__init__(env)
        self.p = p

    def _next_hidden(self) -> bool:
        return bool(self._rng.random() < self.p)


class OcclusionWindows(_Blackout):
    """Zero the observation during random blackout windows.

    A window starts with probability ``rate`` at each visible step and lasts a uniform
    number of steps in ``length = (min, max)``; the first observation of an episode is
    always shown. Long-run blacked-out fraction ≈ ``rate L / (1 + rate L)``, L the mean
    length.
    """

    def __init__(self, env: gym.Env, rate: float = 0.05, length: tuple[int, int] = (5, 15)):
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be in [0, 1], got {rate}")
        if not 1 <= length[0] <= length[1]:
            raise ValueError(f"length must be (min, max) with 1 <= min <= max, got {length}")
        super().__init__(env)
        self.rate, self.length = rate, (int(length[0]), int(length[1]))
        self._left = -1

    def _start_episode(self) -> None:
        self._left = -1  # -1: the reset observation is always shown

    def _next_hidden(self) -> bool:
        if self._left < 0:
            self._left = 0
        elif self._left == 0 and self._rng.random() < self.rate:
            self._left = int(self._rng.integers(self.length[0], self.length[1] + 1))
        if self._left > 0:
            self._left -= 1
            return True
        return False


class CheckAction(gym.Wrapper):
    """Refuse an action outside the action space with a ``ValueError`` naming it.

    ``Discrete``: an integer in ``[start, start + n)``. ``Box``: the space's shape, finite,
    within the bounds (any float dtype). Gymnasium's classic-control envs take NaN, wrongly
    shaped or out-of-range actions silently and return NaN or misshaped observations.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, spaces.Discrete | spaces.Box):
            raise ValueError(
                f"CheckAction supports Discrete and Box actions, got {env.action_space}"
            )

    def step(self, action: Any):
        return super().step(self.check(action))

    def check(self, action: Any) -> Any:
        """``action`` if it lies in the action space, else ``ValueError``."""
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            if space.contains(action):
                return action
            raise ValueError(
                f"action must be an integer in [{space.start}, {space.start + space.n}), "
                f"got {action!r}"
            )
        assert isinstance(space, spaces.Box)  # __init__ admits Discrete and Box only
        try:
            value = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"action must be an array of shape {space.shape}, got {action!r}"
            ) from None
        if value.shape != space.shape:
            raise ValueError(f"action must have shape {space.shape}, got {value.shape}")
        if not np.isfinite(value).all():
            raise ValueError(f"action must be finite, got {action!r}")
        if np.any(value < space.low) or np.any(value > space.high):
            raise ValueError(f"action must lie in [{space.low}, {space.high}], got {action!r}")
        return value.astype(space.dtype)
