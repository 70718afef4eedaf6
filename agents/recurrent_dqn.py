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
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import nn

from stateful_rl.agents.base import State
from stateful_rl.agents.dqn import DQN, DQNConfig, StackedSteps, q_head
from stateful_rl.agents.optim import ClippedAdam, StackedClippedAdam, stacking_error
from stateful_rl.agents.policies import RecurrentQNetwork
from stateful_rl.agents.replay import ReplayBuffer, SequenceBatch
from stateful_rl.encoders import make_encoder
from stateful_rl.encoders.feedforward import StackedMLP


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

    def seed_batch_error(self) -> str | None:
        if self.policy.encoder.trainable:
            return (
                f"its encoder ({self.config.encoder}) is trained, and the fused recurrent "
                "kernels of torch (nn.GRU, nn.LSTM) have no form batched over seeds that "
                "computes each seed as its own kernel does; frozen encoders (esn) train "
                "together"
            )
        if not StackedMLP.supports(self.policy.head):
            return f"its Q-head is not a Linear/activation stack: {self.policy.head}"
        return stacking_error(self.optimizer)

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
        self, obs: torch.Tensor, state: State, episode_start: torch.Tensor | None
    ) -> tuple[torch.Tensor, State]:
        assert state is not None and episode_start is not None  # recurrent: both are given
        q, state = self.policy.step(obs, state, episode_start)
        return self._policy_actions(q), state

    # ----------------------------------------------------------------- training
    def _train(self, n_updates: int) -> None:
        """``n_updates`` gradient steps, each on a fresh batch of sequences (with a frozen
        encoder in a seed batch: the heads' steps together with the other seeds')."""
        if self._buffer().head < self.config.sequence_length:
            return
        seat = self._batch_seat()
        if seat is None:
            losses = torch.stack([self._update(*self._sample_update()) for _ in range(n_updates)])
        else:  # frozen encoder: features need no gradient, so they are computed here
            work = []
            for _ in range(n_updates):
                batch, x = self._sample_update()
                features, _ = self.policy.encoder(x, batch.states, batch.starts)
                work.append((batch, self.policy.head_input(features, x)))
            key = (str(self.device), self._head_signature(), self.config.double,
                   self.config.loss, n_updates, self.optimizer.param_groups[0]["lr"],
                   StackedClippedAdam.step_count(self.optimizer))  # fmt: skip
            losses = seat.hand_over(RecurrentDQN._head_updates_together, key, (self, work))
        self._end_phase(losses)

    def _sample_update(self) -> tuple[SequenceBatch, torch.Tensor]:
        """One update's sequences (drawn with the agent's generator, on the device) and the
        encoder input ``x[T, B, D]`` (normalised observations, previous actions)."""
        cfg = self.config
        batch = (
            self._buffer()
            .sample_sequences(
                cfg.batch_size, self.rng, cfg.sequence_length, cfg.burn_in, cfg.n_step, cfg.gamma
            )
            .to_torch(self.device)
        )
        return batch, self.policy.inputs(self._normalize(batch.obs), batch.prev_actions)

    def _update(self, batch: SequenceBatch, x: torch.Tensor) -> torch.Tensor:
        """One gradient step on the sequences of ``batch``; its loss."""
        policy, target_policy = self.policy, self.target_policy
        features, _ = policy.encoder(x, batch.states, batch.starts)
        q_all = policy.q_from(features, x)  # [T, B, A]
        with torch.no_grad():
            if policy.encoder.trainable:
                target_features, _ = target_policy.encoder(x, batch.states, batch.starts)
            else:  # the shared frozen encoder: the same features
                target_features = features
            target_q = target_policy.q_from(target_features, x)
        loss = self._sequence_loss(q_all, target_q, batch)
        self._optimize(loss)
        return loss.detach()

    def _sequence_loss(
        self, q_all: torch.Tensor, target_q: torch.Tensor, batch: SequenceBatch, stacked=False
    ) -> torch.Tensor:
        """The masked n-step TD loss of online ``q_all[T, B, A]`` with the target network's
        ``target_q[T, B, A]`` (``stacked``: ``[S, T, B, A]`` and a batch of ``[S, T, B]``
        tensors, one loss per seed)."""
        time = 1 if stacked else 0
        with torch.no_grad():
            index = batch.boot_index.unsqueeze(-1).expand_as(q_all)
            next_target = target_q.gather(time, index)
            next_online = q_all.detach().gather(time, index) if self.config.double else None
            target = batch.returns + batch.discounts * self._bootstrap(next_target, next_online)
        q = q_all.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
        return self._td_loss(q, target, batch.mask, stacked)

    def _head_signature(self) -> tuple:
        return tuple(tuple(p.shape) for p in self.policy.head.parameters())

    @staticmethod
    def _head_updates_together(
        work: list[tuple[RecurrentDQN, list[tuple[SequenceBatch, torch.Tensor]]]],
    ) -> list[torch.Tensor]:
        """The head updates of ``S`` seeds with frozen encoders (equal keys), each given as
        ``(agent, [(sequences, head input[T, B, H]) per update])``, as one computation:
        heads and optimiser state stacked, each update one batched forward, backward and
        Adam step, written back at the end; each seed's losses ``[n]``."""
        agents = [agent for agent, _ in work]
        lead = agents[0]
        steps = StackedSteps(agents, [agent.policy.head for agent in agents])
        target_heads = StackedMLP([a.target_policy.head for a in agents])
        for updates in zip(*(updates for _, updates in work), strict=True):
            inputs = torch.stack([head_input for _, head_input in updates])  # [S, T, B, H]
            rows = inputs.flatten(1, 2)
            batch = SequenceBatch(**{
                f.name: torch.stack([getattr(b, f.name) for b, _ in updates])
                for f in fields(SequenceBatch) if f.name != "states"
            }, states=())  # fmt: skip
            shape = inputs.shape[1:3]
            target_q = target_heads(rows).unflatten(1, shape)

            def loss_of(
                out: torch.Tensor,
                y: torch.Tensor = target_q,
                b: SequenceBatch[torch.Tensor] = batch,
                t: torch.Size = shape,
            ) -> torch.Tensor:
                return lead._sequence_loss(out.unflatten(1, t), y, b, stacked=True)

            steps.step(rows, loss_of)
        return steps.finish()
