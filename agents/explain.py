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
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from stateful_rl.agents.base import NORMALIZED_CLIP
from stateful_rl.agents.recurrent_dqn import RecurrentDQN
from stateful_rl.encoders.attribution import gradient_x_input, integrated_gradients
from stateful_rl.encoders.lrp import lstm_lrp
from stateful_rl.encoders.recurrent import LSTMEncoder

METHODS = ("lrp", "gradient_x_input", "integrated_gradients")


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
        encoder = getattr(getattr(agent, "policy", None), "encoder", None)
        if not isinstance(agent, RecurrentDQN) or not isinstance(encoder, LSTMEncoder):
            raise ValueError(
                "RecurrentQExplainer explains a RecurrentDQN with encoder='lstm', got "
                f"{type(agent).__name__} with {type(encoder).__name__}"
            )
        names = [f"obs[{i}]" for i in range(agent.obs_dim)]
        if observation_names is not None:
            if len(observation_names) != agent.obs_dim:
                raise ValueError(
                    f"observation_names needs {agent.obs_dim} names, got {len(observation_names)}"
                )
            names = list(observation_names)
        self.agent = agent
        self.policy = copy.deepcopy(agent.policy).eval()  # later training does not reach it
        if self.policy.prev_action_input:
            names += [f"previous action {a}" for a in range(agent.n_actions)]
        self.feature_names = names
        self.head = nn.Sequential(*_flat_layers(self.policy.head)).eval()
        own_encoder = self.policy.encoder
        assert isinstance(own_encoder, LSTMEncoder) and isinstance(own_encoder.rnn, nn.LSTM)
        self.lstm = own_encoder.rnn
        self.normalization = agent.observation_normalization()
        self.folded = fold_normalization and self.normalization is not None
        if fold_normalization and self.normalization is not None:
            self._fold(self.lstm, *self.normalization)

    @staticmethod
    @torch.no_grad()
    def _fold(lstm: nn.LSTM, shift: Tensor, scale: Tensor) -> None:
        """Make ``lstm`` read raw observations: ``W (o - μ)/σ = (W/σ) o - W μ/σ``."""
        weight, bias = lstm.get_parameter("weight_ih_l0"), lstm.get_parameter("bias_ih_l0")
        n_obs = len(shift)
        bias.sub_(weight[:, :n_obs] @ (shift / scale).to(weight))
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
        if self.folded and self.normalization is not None:  # folded: normalization is set
            shift, scale = self.normalization
            if not bool((((obs - shift) / scale).abs() < NORMALIZED_CLIP).all()):
                raise ValueError(
                    f"some normalised observations reach the agent's clip ±{NORMALIZED_CLIP}, "
                    "where the folded network differs from the agent's: use "
                    "fold_normalization=False"
                )
            x = obs
        else:
            x = agent.normalize(obs)
        previous = torch.cat([torch.full_like(actions[:1], -1), actions[:-1]])
        return self.policy.inputs(x, previous)

    def q_values(self, x: Tensor) -> Tensor:
        """``Q[B, A]`` at the last step of the LSTM input ``x[T, B, D]`` (zero initial state),
        through the agent's own head (which also reads ``x`` with ``readout_input``)."""
        with torch.backends.cudnn.flags(enabled=False):  # cuDNN's LSTM has no eval backward
            return self.policy.q_from(self.lstm(x)[0][-1], x[-1])

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
            if self.policy.readout_input:
                raise ValueError(
                    "LRP here explains a head on the LSTM output only; this agent's head also "
                    "reads the encoder input (readout_input=True): use gradient_x_input or "
                    "integrated_gradients"
                )
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


# ----------------------------------------------------------------- occluded decisions
def play_episode(
    agent: RecurrentDQN, env_id: str, seed: int, **env_kwargs: Any
) -> dict[str, np.ndarray]:
    """One greedy episode of ``agent`` on ``env_id`` (an env whose ``info`` has ``visible``):
    observations ``[T, F]``, actions ``[T]``, rewards ``[T]``, visibility ``[T]`` and, when
    ``info`` has it, the hidden ``target_state[T, ...]`` (each before the action)."""
    env = gym.make(env_id, **env_kwargs)
    obs, info = env.reset(seed=seed)
    state, start = None, True
    rows: dict[str, list] = {"obs": [], "action": [], "reward": [], "visible": [], "target": []}
    done = False
    while not done:
        action, state = agent.predict(obs, state, np.array([start]))
        rows["obs"].append(obs)
        rows["action"].append(int(action))
        rows["visible"].append(bool(info["visible"]))
        rows["target"].append(np.asarray(info.get("target_state", np.nan), dtype=float))
        obs, reward, terminated, truncated, info = env.step(action)
        rows["reward"].append(float(reward))
        start, done = False, terminated or truncated
    env.close()
    return {k: np.asarray(v) for k, v in rows.items()}


def occlusion_starts(visible: np.ndarray) -> np.ndarray:
    """For every step, the first step of the occlusion it lies in (−1 where visible or no
    visible step came before)."""
    start = np.full(len(visible), -1)
    for t in range(1, len(visible)):
        if not visible[t]:
            start[t] = start[t - 1] if not visible[t - 1] else t
    return start


def last_visible_fractions(
    relevance: np.ndarray,
    t: int,
    visible: np.ndarray,
    begin: int,
    features: Sequence[int],
    k: int = 5,
) -> dict[str, float]:
    """Fractions of |relevance| over steps ``0..t`` (``relevance[T, D]``) on the last ``k``
    visible steps before ``begin`` (``visible[T]``): all features, the ``features`` that show
    the hidden target only, and the share those steps would have under an even spread."""
    window = np.flatnonzero(visible[:begin])[-k:]
    magnitude = np.abs(relevance[: t + 1])
    target = magnitude[:, list(features)]
    return {
        "all_features": float(magnitude[window].sum() / max(magnitude.sum(), 1e-12)),
        "target_features": float(target[window].sum() / max(target.sum(), 1e-12)),
        "uniform_all": len(window) / (t + 1),
    }


def explain_occluded_decisions(
    explainer: RecurrentQExplainer,
    episodes: list[dict[str, np.ndarray]],
    stride: int,
    features: Sequence[int],
    k: int = 5,
    methods: tuple[str, ...] = METHODS,
) -> dict[str, Any]:
    """Explain every ``stride``-th occluded decision (steps with an earlier visible step) of
    each episode (:func:`play_episode`) by ``methods``, one batch per step; the mean
    :func:`last_visible_fractions` per method, and the numbers of decisions and episodes."""
    starts = [occlusion_starts(e["visible"]) for e in episodes]
    length = len(episodes[0]["visible"])
    obs = torch.as_tensor(np.stack([e["obs"] for e in episodes], axis=1))
    actions = torch.as_tensor(np.stack([e["action"] for e in episodes], axis=1))
    fractions: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    for t in range(1, length, stride):
        batch = [b for b, s in enumerate(starts) if s[t] >= 0]
        if not batch:
            continue
        e = explainer.explain(obs[: t + 1, batch], actions[: t + 1, batch], methods=methods)
        for method, r in e.relevance.items():
            for column, b in enumerate(batch):
                fractions[method].append(
                    last_visible_fractions(
                        r[:, column].numpy(), t, episodes[b]["visible"], starts[b][t], features, k
                    )
                )
    decisions = len(fractions[methods[0]])
    summary: dict[str, Any] = {"decisions": decisions, "episodes": len(episodes)}
    for method, rows in fractions.items():
        summary[method] = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    return summary


def pick_decision(episode: dict[str, np.ndarray], depth: int = 6) -> int:
    """An occluded step ``depth`` steps into the longest occlusion (its last step if shorter)."""
    starts = occlusion_starts(episode["visible"])
    begins, counts = np.unique(starts[starts >= 0], return_counts=True)
    begin = int(begins[np.argmax(counts)])
    return begin + min(depth, int(counts.max()) - 1)
