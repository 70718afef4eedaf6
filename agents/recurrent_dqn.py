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
default (R2D2 feeds the previous action and reward to its LSTM for the same reason: the
observation alone does not say what the agent just did).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from stateful_rl.agents.base import State
from stateful_rl.agents.dqn import DQN, DQNConfig, q_head
from stateful_rl.agents.optim import ClippedAdam
from stateful_rl.agents.policies import RecurrentQNetwork
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
    episodes of tens to hundreds of steps. The other defaults differ from DQN's for partially
    observed control (CartPole without velocities): 3-step Double-DQN targets, running
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


class RecurrentDQN(DQN):
    """DQN on sequences with a recurrent encoder (R2D2-style replay); see the module docstring.

    The Q-function is ``self.policy``, a :class:`~stateful_rl.agents.policies.RecurrentQNetwork`
    (previous-action inputs, encoder, head); ``self.target_policy`` is its target copy (it
    shares a frozen encoder).

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
        encoder = make_encoder(cfg.encoder, in_dim, **cfg.encoder_kwargs)
        head_dim = encoder.features_dim + (in_dim if cfg.readout_input else 0)
        head = q_head(head_dim, cfg.net_arch, self.n_actions)
        self.policy = RecurrentQNetwork(
            encoder, head, self.n_actions, cfg.prev_action_input, cfg.readout_input
        ).to(self.device)
        if encoder.trainable:
            self.target_policy = copy.deepcopy(self.policy).requires_grad_(False)
        else:  # frozen (echo state): the target shares it
            encoder.requires_grad_(False)
            self.target_policy = RecurrentQNetwork(
                encoder,
                copy.deepcopy(head).requires_grad_(False),
                self.n_actions,
                cfg.prev_action_input,
                cfg.readout_input,
            ).to(self.device)
        params = [p for m in self.q_modules() for p in m.parameters()]
        self.optimizer = ClippedAdam(params, cfg.learning_rate_at(1.0), cfg.max_grad_norm)

    def q_modules(self) -> list[nn.Module]:
        policy = self.policy
        return [policy.head, policy.encoder] if policy.encoder.trainable else [policy.head]

    def target_modules(self) -> list[nn.Module]:
        target = self.target_policy
        return [target.head, target.encoder] if target.encoder.trainable else [target.head]

    def _modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.policy.encoder, "head": self.policy.head}

    def _make_replay_buffer(self, n_envs: int) -> ReplayBuffer:
        shapes = [tuple(s.shape[1:]) for s in self.policy.encoder.initial_state(1)]
        cfg = self.config
        return ReplayBuffer(cfg.buffer_size, n_envs, self.obs_dim, shapes, cfg.sequence_stride)

    # ----------------------------------------------------------------- acting
    def _greedy_actions(
        self, obs: torch.Tensor, state: State, episode_start: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        q, state = self.policy.step(obs, state, episode_start)
        return q.argmax(dim=1), state

    # ----------------------------------------------------------------- training
    def _train(self, n_updates: int) -> None:
        """``n_updates`` gradient steps, each on a fresh batch of sequences."""
        cfg, policy, target_policy = self.config, self.policy, self.target_policy
        if self.replay_buffer.head < cfg.sequence_length:
            return
        losses = []
        for _ in range(n_updates):
            batch = self.replay_buffer.sample_sequences(
                cfg.batch_size, self.rng, cfg.sequence_length, cfg.burn_in, cfg.n_step, cfg.gamma
            ).to_torch(self.device)
            x = policy.inputs(self._normalize(batch.obs), batch.prev_actions)
            features, _ = policy.encoder(x, batch.states, batch.starts)
            q_all = policy.q_from(features, x)  # [T, B, A]
            with torch.no_grad():
                if policy.encoder.trainable:
                    target_features, _ = target_policy.encoder(x, batch.states, batch.starts)
                else:  # the shared frozen encoder: the same features
                    target_features = features
                index = batch.boot_index.unsqueeze(-1).expand_as(q_all)
                next_target = target_policy.q_from(target_features, x).gather(0, index)
                next_online = q_all.detach().gather(0, index) if cfg.double else None
                target = batch.returns + batch.discounts * self._bootstrap(next_target, next_online)
            q = q_all.gather(2, batch.actions.unsqueeze(-1)).squeeze(-1)
            loss = self._td_loss(q, target, batch.mask)
            self._optimize(loss)
            losses.append(loss.detach())
        self._end_phase(losses)
