"""The one replay buffer of every agent: transitions and overlapping sequences.

Storage is a time-major ring of numpy arrays ``[C, N, ...]`` (``C`` slots per environment,
``N`` vector environments), so that one environment's steps are contiguous and sequences
are slices. Each slot ``t`` holds the observation seen before acting, the action, the
reward it earned and the episode flags; the ring is filled one vector step at a time.

Episode ends follow Gymnasium's ``NEXT_STEP`` autoreset: the slot after a terminal step
holds the final observation (``valid`` false: its action is ignored by the environment)
and the slot after that the reset observation (``start`` true). The final observation is
therefore in the stream, and a truncated episode bootstraps from it.

Sequences (R2D2, Kapturowski et al. 2019) start at slots that are multiples of
``state_stride``; the recurrent state the acting network carried *before* reading that
slot is stored there. A hand-written ring because SB3's buffers store one transition per
row and know neither sequences, stored states nor n-step windows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

import numpy as np
import torch


def n_step_returns(
    rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, gamma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n-step returns over windows ``[n, M]`` that start at each of ``M`` slots.

    ``G = Σ_{k<m} γ^k r_k`` where ``m ≤ n`` stops after the first terminal or truncated step.
    Returns ``(G[M], offset[M], discount[M])``: the target is
    ``G + discount · V(obs at slot + offset)``, ``discount = γ^m`` (0 after termination).
    """
    n, m = rewards.shape
    returns = np.zeros(m, dtype=np.float32)
    offset = np.full(m, n, dtype=np.int64)
    discount = np.full(m, gamma**n, dtype=np.float32)
    alive = np.ones(m, dtype=bool)
    for k in range(n):
        returns += np.where(alive, gamma**k * rewards[k], 0.0).astype(np.float32)
        ends = alive & (terminated[k] | truncated[k])
        offset[ends] = k + 1
        discount[ends] = np.where(terminated[k][ends], 0.0, gamma ** (k + 1))
        alive &= ~ends
    return returns, offset, discount


# The arrays of a batch: numpy as sampled, torch after ``to_torch``.
Array = TypeVar("Array", np.ndarray, torch.Tensor)


@dataclass
class Batch(Generic[Array]):
    """Base of the sampled batches: numpy arrays that move to a device in one call."""

    def _tensors(self, device: torch.device) -> dict[str, Any]:
        """The fields as tensors on ``device`` (one transfer per array)."""

        def convert(value):
            if value is None:
                return None
            if isinstance(value, tuple):
                return tuple(convert(v) for v in value)
            return torch.as_tensor(value).to(device, non_blocking=True)

        return {f.name: convert(getattr(self, f.name)) for f in fields(self)}


@dataclass
class TransitionBatch(Batch[Array]):
    """``B`` n-step transitions: ``obs[B, F]``, ``actions[B]``, ``returns[B]``,
    ``next_obs[B, F]`` (the bootstrap observation, m ≤ n slots later), ``discounts[B]``.

    With ``next_index[B]`` set, ``next_obs[U, F]`` holds each distinct bootstrap
    observation once and transition ``i`` bootstraps from ``next_obs[next_index[i]]``.
    """

    obs: Array
    actions: Array
    returns: Array
    next_obs: Array
    discounts: Array
    next_index: Array | None = None

    def to_torch(self, device: torch.device) -> TransitionBatch[torch.Tensor]:
        """The same batch as tensors on ``device`` (one transfer per array)."""
        return TransitionBatch(**self._tensors(device))


@dataclass
class SequenceBatch(Batch[Array]):
    """``B`` sequences of ``T`` slots, time-major.

    ``obs[T, B, F]``, ``actions[T, B]``, ``prev_actions[T, B]`` (−1 at an episode start),
    ``starts[T, B]`` (episode start: reset the state before this slot), n-step
    ``returns[T, B]``, ``boot_index[T, B]`` (slot within the sequence to bootstrap from),
    ``discounts[T, B]``, ``mask[T, B]`` (1 where the loss applies: a real transition whose
    bootstrap slot lies inside the sequence, after the burn-in unless the episode started
    inside the sequence), ``states``: the stored recurrent state at slot 0, each ``[B, ...]``.
    """

    obs: Array
    actions: Array
    prev_actions: Array
    starts: Array
    returns: Array
    boot_index: Array
    discounts: Array
    mask: Array
    states: tuple[Array, ...]

    def to_torch(self, device: torch.device) -> SequenceBatch[torch.Tensor]:
        """The same batch as tensors on ``device`` (one transfer per array)."""
        return SequenceBatch(**self._tensors(device))


def memory_available() -> int | None:
    """Bytes of memory available to a new allocation (Linux: ``MemAvailable``; elsewhere the
    physical memory), or None when the system does not say."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(
    slots: int,
    n_envs: int,
    obs_dim: int,
    state_shapes: Sequence[tuple[int, ...]],
    state_stride: int,
) -> None:
    """Raise ``ValueError`` with the figure and a capacity that fits, before allocating a
    buffer larger than the available memory (numpy would allocate it lazily and fail, or
    swap, in the middle of training)."""
    per_slot: float = 4 * obs_dim + 8 + 8 + 4 + 4  # obs, action, previous action, reward, 4 flags
    per_slot += 4 * sum(int(np.prod(s)) for s in state_shapes) / state_stride
    needed = slots * n_envs * per_slot
    available = memory_available()
    if available is not None and needed > available:
        fits = int(0.5 * available / per_slot)
        raise ValueError(
            f"the replay buffer would need {needed / 2**30:.1f} GiB ({slots * n_envs} "
            f"transitions of {per_slot:.0f} bytes), more than the {available / 2**30:.1f} GiB "
            f"available: pass a smaller buffer_size (e.g. {fits})"
        )


class ReplayBuffer:
    """Ring buffer of ``capacity`` transitions over ``n_envs`` environments.

    ``state_shapes``: shapes of the recurrent state tensors (without batch) to store every
    ``state_stride`` slots; empty for feed-forward agents.
    """

    def __init__(
        self,
        capacity: int,
        n_envs: int,
        obs_dim: int,
        state_shapes: Sequence[tuple[int, ...]] = (),
        state_stride: int = 1,
    ) -> None:
        if capacity < 1 or n_envs < 1 or obs_dim < 1 or state_stride < 1:
            raise ValueError(
                f"capacity, n_envs, obs_dim and state_stride must be >= 1, got {capacity}, "
                f"{n_envs}, {obs_dim}, {state_stride}"
            )
        slots = -(-capacity // n_envs)
        self.slots = -(-slots // state_stride) * state_stride  # a whole number of strides
        self.n_envs = n_envs
        self.state_stride = state_stride
        check_memory(self.slots, n_envs, obs_dim, state_shapes, state_stride)
        shape = (self.slots, n_envs)
        self.obs = np.zeros((*shape, obs_dim), dtype=np.float32)
        self.actions = np.zeros(shape, dtype=np.int64)
        self.prev_actions = np.full(shape, -1, dtype=np.int64)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.starts = np.zeros(shape, dtype=bool)
        self.valid = np.zeros(shape, dtype=bool)
        self.states = tuple(
            np.zeros((self.slots // state_stride, n_envs, *s), dtype=np.float32)
            for s in state_shapes
        )
        self.head = 0  # vector steps written so far (unwrapped slot index of the next write)

    @property
    def oldest(self) -> int:
        """Unwrapped index of the oldest slot still stored."""
        return max(0, self.head - self.slots)

    def __len__(self) -> int:
        """Number of stored slots (all environments together)."""
        return (self.head - self.oldest) * self.n_envs

    def wants_state(self) -> bool:
        """True if the next :meth:`add` stores a recurrent state (its slot starts a stride)."""
        return bool(self.states) and self.head % self.state_stride == 0

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        starts: np.ndarray,
        valid: np.ndarray,
        state: Sequence[np.ndarray] | None = None,
        prev_actions: np.ndarray | None = None,
    ) -> None:
        """Write one vector step: arrays ``[N, ...]``; ``state`` (each ``[N, ...]``) is the
        recurrent state before reading ``obs``, required when :meth:`wants_state`;
        ``prev_actions[N]`` the previous actions a recurrent policy read with ``obs`` (−1:
        none, the default)."""
        i = self.head % self.slots
        self.obs[i] = obs
        self.actions[i] = actions
        self.prev_actions[i] = -1 if prev_actions is None else prev_actions
        self.rewards[i] = rewards
        self.terminated[i] = terminated
        self.truncated[i] = truncated
        self.starts[i] = starts
        self.valid[i] = valid
        if self.wants_state():
            if state is None or len(state) != len(self.states):
                raise ValueError(
                    f"slot {self.head} starts a sequence: pass the {len(self.states)} "
                    "recurrent state arrays held before reading obs"
                )
            for store, s in zip(self.states, state, strict=True):
                store[i // self.state_stride] = s
        self.head += 1

    def _windows(
        self, t: np.ndarray, env: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rewards and flags of the ``n`` slots from unwrapped ``t[M]``: arrays ``[n, M]``."""
        rows = (t[None, :] + np.arange(n)[:, None]) % self.slots
        return self.rewards[rows, env], self.terminated[rows, env], self.truncated[rows, env]

    def valid_transitions(self, n_step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """All samplable transitions: unwrapped slot indices and env indices, each ``[M]``."""
        t = np.arange(self.oldest, self.head - n_step)
        tt, ee = np.meshgrid(t, np.arange(self.n_envs), indexing="ij")
        keep = self.valid[tt % self.slots, ee]
        return tt[keep], ee[keep]

    def transitions(
        self, t: np.ndarray, env: np.ndarray, n_step: int, gamma: float, distinct_next: bool = False
    ) -> TransitionBatch[np.ndarray]:
        """The n-step transitions that start at unwrapped slots ``t[B]`` of envs ``env[B]``;
        ``distinct_next``: store each bootstrap slot once (``next_index`` set)."""
        returns, offset, discounts = n_step_returns(*self._windows(t, env, n_step), gamma)
        next_rows = ((t + offset) % self.slots) * self.n_envs + env  # rows of obs [C * N, F]
        next_index = None
        if distinct_next:
            next_rows, next_index = np.unique(next_rows, return_inverse=True)
        return TransitionBatch(
            obs=self.obs[t % self.slots, env],
            actions=self.actions[t % self.slots, env],
            returns=returns,
            next_obs=self.obs.reshape(-1, self.obs.shape[-1])[next_rows],
            discounts=discounts,
            next_index=next_index,
        )

    def sample_transitions(
        self,
        batch_size: int,
        rng: np.random.Generator,
        n_step: int,
        gamma: float,
        distinct_next: bool = False,
    ) -> TransitionBatch[np.ndarray]:
        """``batch_size`` uniform n-step transitions (the newest ``n_step`` slots excluded);
        ``distinct_next`` as in :meth:`transitions`."""
        low, high = self.oldest, self.head - n_step
        if high <= low:
            raise ValueError(f"the buffer holds {self.head} steps, need more than {n_step}")
        t = rng.integers(low, high, batch_size)
        env = rng.integers(0, self.n_envs, batch_size)
        bad = ~self.valid[t % self.slots, env]
        while bad.any():  # invalid slots (final observations) are rare: redraw them
            t[bad] = rng.integers(low, high, int(bad.sum()))
            env[bad] = rng.integers(0, self.n_envs, int(bad.sum()))
            bad = ~self.valid[t % self.slots, env]
        return self.transitions(t, env, n_step, gamma, distinct_next)

    def sequences(
        self,
        t0: np.ndarray,
        env: np.ndarray,
        length: int,
        burn_in: int,
        n_step: int,
        gamma: float,
    ) -> SequenceBatch[np.ndarray]:
        """Sequences of ``length`` slots from unwrapped stride-aligned starts ``t0[B]``."""
        if np.any(t0 % self.state_stride):
            raise ValueError(f"sequence starts must be multiples of {self.state_stride}")
        if np.any(t0 < self.oldest) or np.any(t0 + length > self.head):
            raise ValueError(
                f"sequences [t0, t0 + {length}) outside the stored slots "
                f"[{self.oldest}, {self.head})"
            )
        rows = (t0[None, :] + np.arange(length)[:, None]) % self.slots  # [T, B]
        rewards, terminated, truncated = (
            np.concatenate([a[rows, env], np.zeros((n_step, len(t0)), a.dtype)])
            for a in (self.rewards, self.terminated, self.truncated)
        )
        windows = np.lib.stride_tricks.sliding_window_view
        per_slot = [windows(a, n_step, axis=0)[:length] for a in (rewards, terminated, truncated)]
        # per_slot arrays are [T, B, n]: flatten T*B windows to [n, T*B] for n_step_returns.
        rewards, terminated, truncated = (w.reshape(-1, n_step).T for w in per_slot)
        returns, offset, discounts = n_step_returns(rewards, terminated, truncated, gamma)
        shape = rows.shape
        boot_index = np.arange(length)[:, None] + offset.reshape(shape)
        starts = self.starts[rows, env]
        exact_state = np.logical_or.accumulate(starts, axis=0)  # episode began in the sequence
        after_burn_in = np.arange(length)[:, None] >= burn_in
        mask = self.valid[rows, env] & (boot_index < length) & (after_burn_in | exact_state)
        state_rows = (t0 // self.state_stride) % (self.slots // self.state_stride)
        return SequenceBatch(
            obs=self.obs[rows, env],
            actions=self.actions[rows, env],
            prev_actions=self.prev_actions[rows, env],
            starts=starts,
            returns=returns.reshape(shape),
            boot_index=np.minimum(boot_index, length - 1),
            discounts=discounts.reshape(shape),
            mask=mask.astype(np.float32),
            states=tuple(s[state_rows, env] for s in self.states),
        )

    def sample_sequences(
        self,
        batch_size: int,
        rng: np.random.Generator,
        length: int,
        burn_in: int,
        n_step: int,
        gamma: float,
    ) -> SequenceBatch[np.ndarray]:
        """``batch_size`` uniform stride-aligned sequences (see :meth:`sequences`)."""
        stride = self.state_stride
        first = -(-self.oldest // stride)
        last = (self.head - length) // stride
        if last < first:
            raise ValueError(f"the buffer holds {self.head} steps, fewer than one sequence")
        t0 = rng.integers(first, last + 1, batch_size) * stride
        env = rng.integers(0, self.n_envs, batch_size)
        return self.sequences(t0, env, length, burn_in, n_step, gamma)
