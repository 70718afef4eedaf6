"""Space checks and observation flattening shared by all agents.

Agents see flat float vectors: a ``Box`` observation is flattened, a ``Discrete`` one is
one-hot encoded. Actions must be ``Discrete`` (value-based agents pick an arg-max).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


def check_action_space(space: spaces.Space) -> spaces.Discrete:
    """Return ``space`` if it is ``Discrete``; raise a ``ValueError`` naming it otherwise."""
    if not isinstance(space, spaces.Discrete):
        raise ValueError(
            f"value-based agents need a Discrete action space, got {space!r}; "
            "discretise continuous actions first (e.g. a DiscretizeAction wrapper)"
        )
    return space


def observation_dim(space: spaces.Space) -> int:
    """Length of the flat observation vector for ``space`` (Box or Discrete)."""
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    raise ValueError(f"observation space must be Box or Discrete, got {space!r}")


def flatten_observations(space: spaces.Space, obs: Any) -> tuple[np.ndarray, bool]:
    """``obs`` (one observation or a batch ``[N, ...]``) as ``float32 [N, F]``.

    Returns the flat batch and whether the input was a batch.
    """
    obs = np.asarray(obs)
    if isinstance(space, spaces.Discrete):
        batched = obs.ndim == 1
        index = obs.reshape(-1).astype(np.int64) - int(space.start)
        if index.min(initial=0) < 0 or index.max(initial=0) >= space.n:
            raise ValueError(f"observation {obs} outside {space!r}")
        return np.eye(space.n, dtype=np.float32)[index], batched
    batched = obs.shape != space.shape
    if obs.shape[batched:] != space.shape:
        raise ValueError(
            f"observation of shape {obs.shape} does not match the observation space "
            f"{space!r} (expected {space.shape} or [N, *{space.shape}])"
        )
    return obs.reshape(len(obs) if batched else 1, -1).astype(np.float32, copy=False), batched


def describe_space(space: spaces.Space) -> dict[str, Any]:
    """A JSON-able description of a Box or Discrete space (stored in saved agents)."""
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "low": space.low.tolist(),
            "high": space.high.tolist(),
            "dtype": str(space.dtype),
        }
    raise ValueError(f"cannot describe {space!r}: only Box and Discrete are supported")


def space_from_description(desc: dict[str, Any]) -> spaces.Space:
    """Inverse of :func:`describe_space`."""
    if desc["type"] == "Discrete":
        return spaces.Discrete(desc["n"], start=desc["start"])
    return spaces.Box(
        np.array(desc["low"], dtype=desc["dtype"]),
        np.array(desc["high"], dtype=desc["dtype"]),
        dtype=desc["dtype"],
    )


def check_same_space(expected: spaces.Space, got: spaces.Space, what: str) -> None:
    """Raise a ``ValueError`` unless ``got`` equals ``expected``: the same type and, for a
    ``Box``, shape, dtype and bounds; for a ``Discrete``, ``n`` and ``start``."""
    same = type(expected) is type(got)
    if same and isinstance(expected, spaces.Box) and isinstance(got, spaces.Box):
        same = (
            expected.shape == got.shape
            and expected.dtype == got.dtype
            and np.array_equal(expected.low, got.low)
            and np.array_equal(expected.high, got.high)
        )
    elif same and isinstance(expected, spaces.Discrete) and isinstance(got, spaces.Discrete):
        same = expected.n == got.n and expected.start == got.start
    if not same:
        raise ValueError(f"{what} mismatch: the agent was built for {expected!r}, got {got!r}")
