"""Recurrent NFQ: Neural Fitted Q iteration (Riedmiller 2005) over whole episodes.

The same batch loop as :class:`stateful_rl.agents.nfq.NFQ` (collect episodes, then one
iteration on everything stored), but Q reads the output of any
:class:`stateful_rl.encoders.StateEncoder` run over each *whole* episode from its initial
state, so no stored or stale recurrent state is involved. One iteration computes

    y_t = c_t + γ · min_b Q(h_{t+1}, b)   (cost form; max and r_t in the reward form)

with the current network over every stored episode, then fits ``Q(h_t, a_t)`` to ``y_t``:

- trainable encoders (LSTM, GRU, Elman): Rprop, full batch, through time, encoder and
  head together (by default warm-started: ``refit=False``);
- frozen encoders (echo state, Szita et al. 2006): the features are computed once per
  iteration without gradient; with ``net_arch=()`` the linear head is solved in closed
  form per iteration (one ridge regression per action, :class:`RidgeQHead`), otherwise an
  MLP head is fitted with Rprop on the fixed features.

Episodes are grouped by length into chunks of at most ``chunk_slots`` padded slots so that
short episodes are not padded to the longest one; the full-batch loss sums all chunks.
The Q-function is the :class:`~stateful_rl.agents.policies.RecurrentQNetwork` that
:class:`~stateful_rl.agents.RecurrentDQN` uses too (the previous action, one-hot, zeros at
an episode start, is appended to the observation by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from stateful_rl.agents.base import State
from stateful_rl.agents.nfq import NFQ, NFQConfig, QNetwork, rprop_fit
from stateful_rl.agents.policies import RecurrentQNetwork
from stateful_rl.agents.replay import SequenceBatch
from stateful_rl.agents.spaces import flatten_observations
from stateful_rl.encoders import make_encoder
from stateful_rl.encoders.ridge import RidgeReadout


@dataclass
class RecurrentNFQConfig(NFQConfig):
    """RecurrentNFQ hyper-parameters (the NFQ ones, plus the encoder).

    encoder: name in :data:`stateful_rl.encoders.ENCODERS` (lstm, gru, elman, esn, ...).
    encoder_kwargs: keyword arguments of the encoder (e.g. ``{"hidden_size": 32}``).
    prev_action_input: append the previous action (one-hot) to the observation.
    net_arch: hidden widths of the Q-head on the encoder features; ``()`` with a frozen
        encoder: linear head solved in closed form (ridge ``ridge``).
    ridge: ridge ``β`` of the closed-form head.
    chunk_slots: padded slots per chunk of episodes (memory bound of one forward pass).

    Defaults differing from NFQ's: a 32-unit tanh head with one output per action, warm
    start, 100 Rprop epochs, 5 greedy episodes (ε = 0.1) after 1 random one per iteration.
    ``action_input``, ``hint_to_goal`` and ``ensemble`` are not available.
    """

    encoder: str = "gru"
    encoder_kwargs: dict[str, Any] = field(default_factory=dict)
    prev_action_input: bool = True
    net_arch: tuple[int, ...] = (32,)
    activation: str = "tanh"
    action_input: bool = False
    epochs: int = 100
    refit: bool = False
    greedy_episodes: int = 5
    greedy_epsilon: float = 0.1
    ridge: float = 1e-3
    chunk_slots: int = 50_000

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        if self.action_input or self.hint_to_goal or self.ensemble != 1:
            raise ValueError(f"{name} supports neither action_input, hint_to_goal nor ensemble > 1")
        if self.ridge < 0 or self.chunk_slots < 1:
            raise ValueError(f"{name}.ridge must be >= 0 and chunk_slots >= 1")


class RidgeQHead(nn.Module):
    """Linear Q-head ``x[..., D] -> Q[..., A]`` solved in closed form, one ridge readout per
    action (Lukoševičius 2012, eq. 9): ``W_a = Yᵀ X (Xᵀ X + β I)⁻¹`` over the transitions
    that took action ``a``."""

    def __init__(self, in_features: int, n_actions: int, ridge: float) -> None:
        super().__init__()
        self.readouts = nn.ModuleList(RidgeReadout(in_features, 1, ridge) for _ in range(n_actions))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([readout(x) for readout in self.readouts], dim=-1)

    def fit(self, features: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor) -> None:
        """Solve each action's readout on ``features[M, D]`` where ``actions[M] == a``."""
        for a, readout in enumerate(self.readouts):
            assert isinstance(readout, RidgeReadout)  # the ModuleList holds only these
            take = actions == a
            if take.any():
                readout.reset_accumulators()
                readout.partial_fit(features[take], targets[take, None]).solve()


class RecurrentNFQ(NFQ):
    """NFQ over whole episodes with a recurrent encoder (see the module docstring).

    The Q-function is ``self.policy``, a :class:`~stateful_rl.agents.policies.RecurrentQNetwork`
    (previous-action inputs, encoder, head), as in :class:`~stateful_rl.agents.RecurrentDQN`.

    Example::

        agent = RecurrentNFQ("stateful_rl/CartPoleNoVel-v0", encoder="gru", seed=0)
        esn = RecurrentNFQ(env, encoder="esn", net_arch=(), encoder_kwargs={"units": 300})
    """

    config_class = RecurrentNFQConfig
    config: RecurrentNFQConfig
    recurrent = True

    def _build(self) -> None:
        cfg = self.config
        in_dim = self.obs_dim + (self.n_actions if cfg.prev_action_input else 0)
        encoder = make_encoder(cfg.encoder, in_dim, **cfg.encoder_kwargs)
        if not encoder.trainable:
            encoder.requires_grad_(False)
        features = encoder.features_dim
        self.closed_form = not encoder.trainable and not cfg.net_arch
        if self.closed_form:
            head: nn.Module = RidgeQHead(features, self.n_actions, cfg.ridge)
        else:
            head = QNetwork(features, self.n_actions, cfg.net_arch, cfg.activation, False)
        self.policy = RecurrentQNetwork(encoder, head, self.n_actions, cfg.prev_action_input)
        self.policy.to(self.device)
        self.exploration_rate = 1.0 if cfg.random_episodes else cfg.greedy_epsilon
        self.n_episodes = 0
        self._n_fits = 0
        self._fitted_now = False

    def _modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.policy.encoder, "head": self.policy.head}

    def _greedy_actions(
        self, obs: torch.Tensor, state: State, episode_start: torch.Tensor | None
    ) -> tuple[torch.Tensor, State]:
        assert state is not None and episode_start is not None  # recurrent: both are given
        q, state = self.policy.step(obs, state, episode_start)
        return self._best(q)[1], state

    @torch.no_grad()
    def q_values(self, observation: np.ndarray) -> np.ndarray:
        """Q-values ``[T, A]`` along one episode of raw observations ``[T, ...]`` that starts
        at the first one, the greedy action being taken at every step."""
        flat, _ = flatten_observations(self.observation_space, observation)
        obs = self._obs_tensor(flat)
        state = self.policy.initial_state(1, self.device)
        q = []
        for t in range(len(obs)):
            start = torch.full((1,), t == 0, device=self.device)
            values, state = self.policy.step(obs[t : t + 1], state, start)
            state = self.policy.record_actions(state, self._best(values)[1])
            q.append(values)
        return torch.cat(q).cpu().numpy()

    # ----------------------------------------------------------------- episodes
    def episode_chunks(self) -> list[SequenceBatch]:
        """Every stored episode (from its start) as time-major sequences on the device,
        grouped by length into chunks of at most ``chunk_slots`` padded slots; ``mask``
        marks the transitions whose next slot lies in the same episode."""
        buffer = self.replay_buffer
        if buffer is None:
            raise ValueError(f"{type(self).__name__}: no transitions stored yet (call learn)")
        slots = np.arange(buffer.oldest, buffer.head)
        tt, ee = np.meshgrid(slots, np.arange(buffer.n_envs), indexing="ij")
        is_start = buffer.starts[tt % buffer.slots, ee]
        t0, env = tt[is_start], ee[is_start]
        order = np.lexsort((t0, env))
        t0, env = t0[order], env[order]
        same_env_next = np.append(env[1:] == env[:-1], False)
        ends = np.where(same_env_next, np.append(t0[1:], 0), buffer.head)
        lengths = ends - t0  # slots of the episode, its final observation included
        keep = lengths >= 2
        t0, env, lengths = t0[keep], env[keep], lengths[keep]
        if len(t0) == 0:
            raise ValueError(f"{type(self).__name__}: no stored episode with a transition to fit")
        order = np.argsort(lengths, kind="stable")
        chunks, begin = [], 0
        while begin < len(order):
            end = begin + 1
            while end < len(order) and lengths[order[end]] * (end + 1 - begin) <= max(
                self.config.chunk_slots, lengths[order[end]]
            ):
                end += 1
            part = order[begin:end]
            chunks.append(self._padded_episodes(t0[part], env[part], lengths[part]))
            begin = end
        return chunks

    def _padded_episodes(
        self, t0: np.ndarray, env: np.ndarray, lengths: np.ndarray
    ) -> SequenceBatch:
        """Episodes from ``t0[E]`` padded to the longest: one ``sequences`` call per distinct
        stored length (the buffer reads no slot past its head), concatenated on the device."""
        buffer, longest = self._buffer(), int(lengths.max())
        readable = np.minimum(longest, buffer.head - t0)
        parts = []
        for length in np.unique(readable):
            pick = readable == length
            seq = buffer.sequences(t0[pick], env[pick], int(length), 0, 1, self.config.gamma)
            inside = np.arange(length)[:, None] + 1 < lengths[pick][None, :]
            seq.mask = seq.mask * inside
            parts.append((seq, pick))
        order = np.concatenate([np.flatnonzero(pick) for _, pick in parts])
        fill = {"prev_actions": -1, "boot_index": longest - 1}
        merged = {}
        for f in fields(SequenceBatch):
            if f.name == "states":
                continue
            arrays = []
            for seq, _ in parts:
                a = getattr(seq, f.name)
                pad = np.full((longest - len(a), *a.shape[1:]), fill.get(f.name, 0), a.dtype)
                arrays.append(np.concatenate([a, pad]))
            merged[f.name] = np.concatenate(arrays, axis=1)[:, np.argsort(order)]
        return SequenceBatch(**merged, states=()).to_torch(self.device)

    def _features(self, chunk: SequenceBatch) -> torch.Tensor:
        """Encoder features ``[T, E, H]`` of a chunk, each episode from the initial state."""
        x = self.policy.inputs(self._normalize(chunk.obs), chunk.prev_actions)
        state = self.policy.encoder.initial_state(x.shape[1], self.device)
        return self.policy.encoder(x, state, chunk.starts)[0]

    # ----------------------------------------------------------------- fitting
    def _iterate_on_buffer(self) -> tuple[float, int]:
        chunks = self.episode_chunks()
        return self.fit_episodes(chunks), int(sum(c.mask.sum().item() for c in chunks))

    def fit_episodes(self, chunks: list[SequenceBatch], iterations: int = 1) -> float:
        """Run ``iterations`` NFQ iterations on episode chunks (see :meth:`episode_chunks`);
        returns the mean squared error of the last fit to its targets."""
        frozen = not self.policy.encoder.trainable
        with torch.no_grad():
            fixed = [self._features(c) for c in chunks] if frozen else None
        per_chunk: Sequence[torch.Tensor | None] = fixed or [None] * len(chunks)
        count = sum(c.mask.sum() for c in chunks).clamp(min=1.0)
        loss = float("nan")
        for _ in range(iterations):
            with torch.no_grad():
                targets = [self._targets(c, f) for c, f in zip(chunks, per_chunk, strict=True)]
            if self.closed_form:
                loss = self._solve_head(chunks, fixed, targets)
            else:
                loss = self._rprop_fit(chunks, fixed, targets, count)
            self._check_finite(torch.tensor(loss))
            self._n_fits += 1
        return loss

    def _targets(self, chunk: SequenceBatch, features: torch.Tensor | None) -> torch.Tensor:
        """``y[T, E] = gain_t + discount_t · best_b Q(h_{t+1}, b)`` with the current network."""
        features = self._features(chunk) if features is None else features
        best = self._best(self.policy.head(features))[0]
        return chunk.returns * self._sign + chunk.discounts * best.gather(0, chunk.boot_index)

    def _q_taken(self, chunk: SequenceBatch, features: torch.Tensor | None) -> torch.Tensor:
        features = self._features(chunk) if features is None else features
        return self.policy.head(features).gather(2, chunk.actions.unsqueeze(-1)).squeeze(-1)

    def seed_batch_error(self) -> str | None:
        return "its fits run through whole episodes of its encoder, which has no batched form"

    def _rprop_fit(self, chunks, fixed, targets, count: torch.Tensor) -> float:
        """Full-batch Rprop on all chunks (through time when the encoder trains)."""
        policy = self.policy
        assert isinstance(policy.head, QNetwork)  # not closed_form: a network head
        modules = [policy.head] + ([policy.encoder] if policy.encoder.trainable else [])
        if self.config.refit:  # each module's own initialisation (an LSTM's forget bias...)
            for module in modules:
                module.reset_parameters()
        per_chunk: Sequence[torch.Tensor | None] = fixed or [None] * len(chunks)

        def loss_fn() -> torch.Tensor:
            total = sum(
                (((self._q_taken(c, f) - y) ** 2) * c.mask).sum()
                for c, f, y in zip(chunks, per_chunk, targets, strict=True)
            )
            return total / count

        params = [p for m in modules for p in m.parameters()]
        self._n_updates += self.config.epochs
        return rprop_fit(params, loss_fn, self.config.epochs, self.config.rprop_step)

    def _solve_head(self, chunks, fixed, targets) -> float:
        """Closed-form ridge head on the fixed features of the masked transitions."""
        take = [c.mask > 0 for c in chunks]
        features = torch.cat([f[m] for f, m in zip(fixed, take, strict=True)])
        actions = torch.cat([c.actions[m] for c, m in zip(chunks, take, strict=True)])
        y = torch.cat([t[m] for t, m in zip(targets, take, strict=True)])
        assert isinstance(self.policy.head, RidgeQHead)  # closed_form
        self.policy.head.fit(features, actions, y)
        q = self.policy.head(features).gather(1, actions[:, None]).squeeze(1)
        return float(((q - y) ** 2).mean())
