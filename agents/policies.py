"""The recurrent Q-network: the one module that acting, training and explanations share.

``RecurrentQNetwork`` = previous-action inputs + a :class:`~stateful_rl.encoders.StateEncoder`
+ a Q-head (as SB3's policies hold their features extractor and heads). Its input at step
``t`` is the (normalised) observation with, by default, the previous action one-hot
(zeros at an episode start); its state is the encoder's state followed by the previous
action ``[N]`` (−1: none), so ``step`` is all an agent needs to act, and ``forward`` runs
the same function over replayed sequences.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stateful_rl.encoders import StateEncoder

State = tuple[torch.Tensor, ...]


class RecurrentQNetwork(nn.Module):
    """``Q(history, ·)``: inputs ``x_t = [o_t, onehot(a_{t-1})]`` -> encoder -> head.

    Args:
        encoder: reads ``x[T, B, input_dim]``; ``input_dim`` must be the observation size
            plus ``n_actions`` when ``prev_action_input``.
        head: maps ``[h_t]`` (or ``[h_t, x_t]`` with ``readout_input``) to ``[..., A]``.
        n_actions: number of actions ``A``.
        prev_action_input: append the previous action one-hot to the observation.
        readout_input: the head also reads the encoder's input (the echo-state readout
            ``W_out [x(n); u(n)]`` of Jaeger 2001 and Lukoševičius 2012, §3.1).
    """

    def __init__(
        self,
        encoder: StateEncoder,
        head: nn.Module,
        n_actions: int,
        prev_action_input: bool = True,
        readout_input: bool = False,
    ) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head
        self.n_actions = n_actions
        self.prev_action_input, self.readout_input = prev_action_input, readout_input

    def inputs(self, obs: torch.Tensor, prev_actions: torch.Tensor) -> torch.Tensor:
        """The encoder input for normalised ``obs[..., F]`` and ``prev_actions[...]`` (−1:
        none, zeros)."""
        if not self.prev_action_input:
            return obs
        one_hot = F.one_hot(prev_actions.long().clamp(min=0), self.n_actions).to(obs.dtype)
        return torch.cat([obs, one_hot * (prev_actions >= 0).unsqueeze(-1)], dim=-1)

    def q_from(self, features: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Q-values ``[..., A]`` from encoder ``features[..., H]`` and its input ``x[..., D]``."""
        return self.head(self.head_input(features, x))

    def head_input(self, features: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """What the head reads: ``features`` (``[features, x]`` with ``readout_input``), made
        contiguous, so that its first layer is one fused product with its bias whatever
        layout the encoder returns (seeds trained together compute it that way)."""
        return torch.cat([features, x], dim=-1) if self.readout_input else features.contiguous()

    def forward(
        self,
        obs: torch.Tensor,
        prev_actions: torch.Tensor,
        encoder_state: State,
        starts: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        """Over sequences: ``obs[T, B, F]``, ``prev_actions[T, B]``, ``starts[T, B]`` from
        the encoder state (each ``[B, ...]``); returns ``(q[T, B, A], features[T, B, H],
        encoder state after the last step)``."""
        x = self.inputs(obs, prev_actions)
        features, encoder_state = self.encoder(x, encoder_state, starts)
        return self.q_from(features, x), features, encoder_state

    def initial_state(self, n: int, device: torch.device | str | None = None) -> State:
        """The state at an episode start: encoder state tensors, then previous actions ``[N]``
        (−1: none)."""
        prev = torch.full((n,), -1, dtype=torch.long, device=device)
        return (*self.encoder.initial_state(n, device), prev)

    def step(
        self, obs: torch.Tensor, state: State, start: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """One step for acting: normalised ``obs[N, F]``, ``state`` (see :meth:`initial_state`),
        ``start[N]`` (an episode starts: reset); returns ``q[N, A]`` and the state after the
        step (its previous action is set by :meth:`record_actions` once an action is taken)."""
        *encoder_state, prev = state
        prev = torch.where(start, -1, prev.long())
        x = self.inputs(obs, prev)
        features, next_state = self.encoder.step(x, tuple(encoder_state), start)
        return self.q_from(features, x), (*next_state, prev)

    @staticmethod
    def record_actions(state: State, actions: torch.Tensor) -> State:
        """``state`` with ``actions[N]`` as the previous actions of the next step."""
        return (*state[:-1], actions.long())

    @staticmethod
    def previous_actions(state: State) -> torch.Tensor:
        """The previous actions ``[N]`` held by ``state`` (−1: none)."""
        return state[-1]
