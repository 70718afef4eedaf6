"""Why did a recurrent DQN act as it did? Relevance of every past observation and feature.

Explains the chosen action's Q-value ``Q(h_t, a_t)`` of a :class:`RecurrentDQN` with an LSTM
encoder by LSTM LRP (Arras et al. 2017, :func:`stateful_rl.encoders.lrp.lstm_lrp`) and, as
baselines in the same layout, gradient×input and integrated gradients (Sundararajan et al.
2017). The explained network is exactly the agent's: its ``nn.LSTM`` (``encoder.rnn``) and
its Q-head, fed what the agent feeds them while acting, the observation (normalised with
the agent's running statistics) and the previous action one-hot (zeros at the episode
start), from the zero state of an episode start.

By default the observation normalisation ``(o - μ) / σ`` is folded into a copy of the
LSTM's first-layer input weights (``W' = W / σ``, ``b' = b - W μ / σ``, an identical
network on raw observations), so relevance is on the raw observation: an occluded target,
observed as 0, gets none, and the zero baseline of integrated gradients is "nothing seen".
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from stateful_rl.agents.recurrent_dqn import RecurrentDQN
from stateful_rl.encoders.attribution import gradient_x_input, integrated_gradients
from stateful_rl.encoders.lrp import lstm_lrp
from stateful_rl.encoders.recurrent import LSTMEncoder

METHODS = ("lrp", "gradient_x_input", "integrated_gradients")
CLAMP = 10.0  # the agent clips normalised observations to ±CLAMP (BaseAgent._normalize)


class DecisionExplanation(NamedTuple):
    """Relevances of one decision per sequence, each ``[T, B, D]`` like ``inputs``.

    ``inputs[T, B, D]``: what the explained LSTM read (observation features, then the
    previous-action one-hot); ``feature_names[D]`` names them. ``q_values[B, A]`` at the
    last step and the explained ``actions[B]``. ``relevance`` maps each method of
    :data:`METHODS` that was asked for to its ``[T, B, D]`` relevance; ``lrp_rest[B]`` is the
    LRP relevance left on the initial state and, unless ``bias_factor = 1``, absorbed by
    biases: ``lrp.sum((0, 2)) + lrp_rest`` equals the Q-value when ``bias_factor = 1``.
    """

    inputs: Tensor
    feature_names: list[str]
    q_values: Tensor
    actions: Tensor
    relevance: dict[str, Tensor]
    lrp_rest: Tensor


def _flat_layers(module: nn.Module) -> list[nn.Module]:
    """Nested ``nn.Sequential`` s as one list of leaf layers."""
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _flat_layers(child)]
    return [module]


class RecurrentQExplainer:
    """Explains the decisions of a trained :class:`RecurrentDQN` whose encoder is an LSTM.

    Args:
        agent: the agent (``encoder="lstm"``); the explainer keeps a copy of its networks
            as they are now (later training does not reach it).
        observation_names: one name per observation feature (default ``obs[i]``).
        fold_normalization: explain raw observations by folding the agent's observation
            normalisation into the first LSTM layer (see the module docstring); ``False``
            explains the normalised observations the LSTM reads.

    Example::

        explainer = RecurrentQExplainer(agent, ["tracker x", "target x", "visible"])
        e = explainer.explain(observations[: t + 1], actions[: t + 1])  # decision at step t
        e.relevance["lrp"]  # [t + 1, B, 3 + n_actions]
    """

    def __init__(
        self,
        agent: RecurrentDQN,
        observation_names: Sequence[str] | None = None,
        fold_normalization: bool = True,
    ) -> None:
        if not isinstance(agent, RecurrentDQN) or not isinstance(agent.encoder, LSTMEncoder):
            raise ValueError(
                "RecurrentQExplainer explains a RecurrentDQN with encoder='lstm', got "
                f"{type(agent).__name__} with {type(getattr(agent, 'encoder', None)).__name__}"
            )
        names = [f"obs[{i}]" for i in range(agent.obs_dim)]
        if observation_names is not None:
            if len(observation_names) != agent.obs_dim:
                raise ValueError(
                    f"observation_names needs {agent.obs_dim} names, got {len(observation_names)}"
                )
            names = list(observation_names)
        self.agent = agent
        self.prev_action_input = agent.config.prev_action_input
        if self.prev_action_input:
            names += [f"previous action {a}" for a in range(agent.n_actions)]
        self.feature_names = names
        self.head = nn.Sequential(*_flat_layers(copy.deepcopy(agent.head))).eval()
        self.lstm = copy.deepcopy(agent.encoder.rnn).eval()
        self.folded = fold_normalization and agent._obs_shift is not None
        if self.folded:
            self._fold(self.lstm, agent._obs_shift, agent._obs_scale)

    @staticmethod
    @torch.no_grad()
    def _fold(lstm: nn.LSTM, shift: Tensor, scale: Tensor) -> None:
        """Make ``lstm`` read raw observations: ``W (o - μ)/σ = (W/σ) o - W μ/σ``."""
        weight = lstm.weight_ih_l0
        n_obs = len(shift)
        lstm.bias_ih_l0 -= weight[:, :n_obs] @ (shift / scale).to(weight)
        weight[:, :n_obs] /= scale.to(weight)

    def inputs(self, observations: Tensor, actions: Tensor) -> Tensor:
        """The LSTM input ``x[T, B, D]`` for flat observations ``[T, B, F]`` (one episode
        from its start per column) and the actions taken ``[T, B]`` (indices from 0; the
        previous action of step ``t`` is ``actions[t - 1]``, none at ``t = 0``)."""
        agent = self.agent
        obs = torch.as_tensor(observations, dtype=torch.float32, device=agent.device)
        actions = torch.as_tensor(actions, device=agent.device).long()
        if obs.dim() != 3 or obs.shape[-1] != agent.obs_dim:
            raise ValueError(
                f"observations must be [T, B, {agent.obs_dim}], got {tuple(obs.shape)}"
            )
        if tuple(actions.shape) != tuple(obs.shape[:2]):
            raise ValueError(
                f"actions must be [T, B] = {tuple(obs.shape[:2])}, got {tuple(actions.shape)}"
            )
        if actions.numel() and not 0 <= int(actions.min()) <= int(actions.max()) < agent.n_actions:
            raise ValueError(f"actions must lie in [0, {agent.n_actions - 1}]")
        if self.folded:
            if not bool((((obs - agent._obs_shift) / agent._obs_scale).abs() < CLAMP).all()):
                raise ValueError(
                    f"some normalised observations reach the agent's clip ±{CLAMP}, where the "
                    "folded network differs from the agent's: use fold_normalization=False"
                )
            x = obs
        else:
            x = agent._normalize(obs.clone())
        previous = torch.cat([torch.full_like(actions[:1], -1), actions[:-1]])
        return agent._inputs(x, previous)

    def q_values(self, x: Tensor) -> Tensor:
        """``Q[B, A]`` at the last step of the LSTM input ``x[T, B, D]`` (zero initial state)."""
        with torch.backends.cudnn.flags(enabled=False):  # cuDNN's LSTM has no eval backward
            return self.head(self.lstm(x)[0][-1])

    def explain(
        self,
        observations: Tensor,
        actions: Tensor,
        *,
        target: Tensor | None = None,
        methods: Sequence[str] = METHODS,
        eps: float = 1e-3,
        bias_factor: float = 0.0,
        ig_steps: int = 64,
    ) -> DecisionExplanation:
        """Explain the decision at the last step of each column of ``observations[T, B, F]``.

        ``actions[T, B]``: actions taken (see :meth:`inputs`; the last row is not read).
        ``target[B]``: the action whose Q-value is explained (default: the greedy one, the
        agent's choice). ``eps``/``bias_factor``: LRP's epsilon rule; ``ig_steps``: the
        integration points of integrated gradients (zero baseline).
        """
        unknown = sorted(set(methods) - set(METHODS))
        if unknown:
            raise ValueError(f"unknown methods {unknown}; allowed: {', '.join(METHODS)}")
        x = self.inputs(observations, actions)
        with torch.no_grad():
            q = self.q_values(x)
        target = q.argmax(dim=1) if target is None else torch.as_tensor(target).to(q.device)
        relevance: dict[str, Tensor] = {}
        rest = torch.zeros_like(q[:, 0])
        if "lrp" in methods:
            r = lstm_lrp(self.lstm, x, self.head, target, eps=eps, bias_factor=bias_factor)
            relevance["lrp"] = r.input
            rest = r.score - r.input.sum(dim=(0, 2))
        if "gradient_x_input" in methods:
            relevance["gradient_x_input"] = gradient_x_input(
                self.q_values, x, target=target
            ).detach()
        if "integrated_gradients" in methods:
            relevance["integrated_gradients"] = integrated_gradients(
                self.q_values, x, target=target, steps=ig_steps
            ).detach()
        return DecisionExplanation(x, self.feature_names, q, target, relevance, rest)
