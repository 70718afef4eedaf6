"""Recurrent DQN with stored states and burn-in (R2D2, Kapturowski et al., ICLR 2019).

Any :class:`stateful_rl.encoders.StateEncoder` (LSTM, GRU, Elman, echo state, feed-forward)
feeds a Q-head. Replay holds overlapping sequences of ``sequence_length`` slots that start
every ``sequence_stride`` slots, with the recurrent state the acting network carried at
their start; the first ``burn_in`` slots refresh that (stale) state and get no loss unless
the episode began inside the sequence (then the state is exact). Targets are n-step Double
DQN targets computed on the same sequence (the target network is unrolled from the same
stored state). Episode ends inside a sequence reset the state (``episode_starts``).

ESN-DQN (Szita, Gyenes & Lőrincz 2006) is the configuration ``encoder="esn"``: the reservoir
is frozen (``trainable = False``), features are computed without gradient and shared by the
online and target heads; only the Q-head trains.

The previous action (one-hot, zeros at an episode start) is appended to the observation by
default: on CartPole without velocities it is what let a prototype learn at all.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stateful_rl.agents.base import State
from stateful_rl.agents.dqn import DQN, DQNConfig, q_head
from stateful_rl.agents.optim import ClippedAdam
from stateful_rl.agents.replay import ReplayBuffer
from stateful_rl.encoders import make_encoder


@dataclass
class RecurrentDQNConfig(DQNConfig):
    """RecurrentDQN hyper-parameters (the DQN ones, plus the sequence replay).

    encoder: name in :data:`stateful_rl.encoders.ENCODERS` (lstm, gru, elman, esn, ...).
    encoder_kwargs: keyword arguments of the encoder (e.g. ``{"hidden_size": 128}``).
    prev_action_input: append the previous action (one-hot) to the observation.
    readout_input: the Q-head sees the encoder's input too, ``[h_t, x_t]`` (the echo-state
        readout ``W_out [x(n); u(n)]`` of Jaeger 2001 and Lukoševičius 2012, §3.1).
    sequence_length: slots per replayed sequence, burn-in included.
    burn_in: leading slots that only refresh the stored state (R2D2).
    sequence_stride: slots between sequence starts (length − stride slots overlap).
    batch_size: sequences per gradient step.

    R2D2's sequences (80 slots, 40 overlap, 40 burn-in) are scaled down to 40/20/10 for
    episodes of tens to hundreds of steps. The other defaults differ from DQN's as the
    CartPole-without-velocities prototype did: 3-step Double-DQN targets, running
    observation normalisation, one update per 16 env steps.
    """

    encoder: str = "lstm"
    encoder_kwargs: dict[str, Any] = field(default_factory=dict)
    prev_action_input: bool = True
    readout_input: bool = False
    sequence_length: int = 40
    burn_in: int = 10
    sequence_stride: int = 20
    learning_rate: float | str = 5e-4
    buffer_size: int = 100_000
    learning_starts: int = 2_000
    batch_size: int = 32
    train_freq: int = 16
    target_update_interval: int = 2_000
    exploration_fraction: float = 0.2
    exploration_final_eps: float = 0.02
    net_arch: tuple[int, ...] = (64,)
    double: bool = True
    n_step: int = 3
    normalize_obs: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        if not 1 <= self.sequence_stride <= self.sequence_length:
            raise ValueError(f"{name}.sequence_stride must be in [1, sequence_length]")
        if not 0 <= self.burn_in < self.sequence_length - self.n_step:
            raise ValueError(
                f"{name}: burn_in ({self.burn_in}) + n_step ({self.n_step}) must be below "
                f"sequence_length ({self.sequence_length}) so that some slots get a loss"
            )


class PreviousActionInputs:
    """Acting with the previous action appended to the observation (one-hot; zeros at an
    episode start), shared by the recurrent agents (RecurrentDQN, RecurrentNFQ).

    The recurrent state is the encoder's state tensors followed by the previous actions
    ``[N]`` (−1: none). Needs ``self.encoder``, ``self.device``, ``self.n_actions`` and
    ``self.config.prev_action_input``.
    """

    def _initial_state(self, n: int) -> State:
        """Encoder state tensors, then the previous actions ``[N]`` (−1: none)."""
        prev = torch.full((n,), -1, dtype=torch.long, device=self.device)
        return (*self.encoder.initial_state(n, self.device), prev)

    def _record_actions(self, state: State, actions: torch.Tensor) -> State:
        return (*state[:-1], actions.long())

    def _inputs(self, obs: torch.Tensor, prev_actions: torch.Tensor) -> torch.Tensor:
        """Normalised ``obs[..., F]`` and the one-hot ``prev_actions[...]`` (−1: zeros)."""
        if not self.config.prev_action_input:
            return obs
        one_hot = F.one_hot(prev_actions.clamp(min=0), self.n_actions).to(obs.dtype)
        return torch.cat([obs, one_hot * (prev_actions >= 0).unsqueeze(-1)], dim=-1)


class RecurrentDQN(PreviousActionInputs, DQN):
    """DQN on sequences with a recurrent encoder (R2D2-style replay); see the module docstring.

    Example::

        agent = RecurrentDQN("stateful_rl/CartPoleNoVel-v0", encoder="gru", seed=0)
        esn = RecurrentDQN(env, encoder="esn", encoder_kwargs={"units": 500})  # ESN-DQN
    """

    config_class = RecurrentDQNConfig
    config: RecurrentDQNConfig
    recurrent = True

    def _build(self) -> None:
        cfg = self.config
        in_dim = self.obs_dim + (self.n_actions if cfg.prev_action_input else 0)
        self.encoder = make_encoder(cfg.encoder, in_dim, **cfg.encoder_kwargs).to(self.device)
        head_dim = self.encoder.features_dim + (in_dim if cfg.readout_input else 0)
        self.head = q_head(head_dim, cfg.net_arch, self.n_actions).to(self.device)
        self.target_head = copy.deepcopy(self.head).requires_grad_(False)
        if self.encoder.trainable:
            self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        else:  # frozen (echo state): the target shares it
            self.encoder.requires_grad_(False)
            self.target_encoder = self.encoder
        params = [p for m in self.q_modules() for p in m.parameters()]
        self.optimizer = ClippedAdam(params, cfg.learning_rate_at(1.0), cfg.max_grad_norm)

    def q_modules(self) -> list[nn.Module]:
        return [self.head, self.encoder] if self.encoder.trainable else [self.head]

    def target_modules(self) -> list[nn.Module]:
        if self.encoder.trainable:
            return [self.target_head, self.target_encoder]
        return [self.target_head]

    def _modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "head": self.head}

    def _make_replay_buffer(self, n_envs: int) -> ReplayBuffer:
        shapes = [tuple(s.shape[1:]) for s in self.encoder.initial_state(1)]
        cfg = self.config
        return ReplayBuffer(cfg.buffer_size, n_envs, self.obs_dim, shapes, cfg.sequence_stride)

    def _head_input(self, features: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The Q-head's input: ``features[..., H]``, then the encoder input ``x[..., F]``
        when ``readout_input``."""
        return torch.cat([features, x], dim=-1) if self.config.readout_input else features

    # ----------------------------------------------------------------- acting
    def _greedy_actions(
        self, obs: torch.Tensor, state: State, episode_start: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        *encoder_state, prev = state
        prev = torch.where(episode_start, -1, prev.long())
        x = self._inputs(obs, prev)
        features, encoder_state = self.encoder.step(x, tuple(encoder_state), episode_start)
        return self.head(self._head_input(features, x)).argmax(dim=1), (*encoder_state, prev)

    # ----------------------------------------------------------------- training
    def _train(self, n_updates: int) -> None:
        """``n_updates`` gradient steps, each on a fresh batch of sequences."""
        cfg = self.config
        if self.replay_buffer.head < cfg.sequence_length:
            return
        losses = []
        for _ in range(n_updates):
            batch = self.replay_buffer.sample_sequences(
                cfg.batch_size, self.rng, cfg.sequence_length, cfg.burn_in, cfg.n_step, cfg.gamma
            ).to_torch(self.device)
            x = self._inputs(self._normalize(batch.obs), batch.prev_actions)
            features, _ = self.encoder(x, batch.states, batch.starts)
            q_all = self.head(self._head_input(features, x))  # [T, B, A]
            with torch.no_grad():
                if self.encoder.trainable:
                    target_features, _ = self.target_encoder(x, batch.states, batch.starts)
                else:
                    target_features = features
                index = batch.boot_index.unsqueeze(-1).expand_as(q_all)
                next_target = self.target_head(self._head_input(target_features, x))
                next_target = next_target.gather(0, index)
                next_online = q_all.detach().gather(0, index) if cfg.double else None
                target = batch.returns + batch.discounts * self._bootstrap(next_target, next_online)
            q = q_all.gather(2, batch.actions.unsqueeze(-1)).squeeze(-1)
            loss = self._td_loss(q, target, batch.mask)
            self._optimize(loss)
            losses.append(loss.detach())
        self._end_phase(losses)


def esn_dqn(env: Any, **kwargs: Any) -> RecurrentDQN:
    """ESN-DQN: a :class:`RecurrentDQN` with a frozen echo-state reservoir (``encoder="esn"``)."""
    return RecurrentDQN(env, encoder="esn", **kwargs)
