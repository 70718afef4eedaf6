"""Deep Q-Network (Mnih et al., Nature 2015) with Double DQN targets (van Hasselt et al., 2016).

Loss: Huber (or MSE) between ``Q(s_t, a_t)`` and the n-step target
``y = Σ_{k<m} γ^k r_{t+k} + γ^m Q_target(s_{t+m}, a*)`` with
``a* = argmax_a Q_target(s_{t+m}, a)`` (DQN) or ``argmax_a Q(s_{t+m}, a)`` (Double DQN),
``m ≤ n`` stopping at an episode end (no bootstrap after termination, bootstrap from the
final observation after truncation).

Speed: one training phase (``gradient_steps`` updates) samples all its batches at once and
evaluates the target network once per distinct bootstrap observation of the phase (the
target network does not change inside a phase), in blocks of ``TARGET_BLOCK_ROWS``. Target
updates due between phases are applied when the next phase starts: the online network does
not change in between, so the result is the same as applying each on time. Clipping and
Adam are one fused call per update (:class:`stateful_rl.agents.optim.ClippedAdam`). Acting
does no module mode switches (no dropout or batch norm) and, for a CPU MLP, runs in numpy
on the same weights (:class:`stateful_rl.encoders.feedforward.NumpyMLP`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stateful_rl.agents.base import AgentConfig, BaseAgent, State, multiples_crossed
from stateful_rl.agents.optim import ClippedAdam, StackedClippedAdam, stacking_error
from stateful_rl.agents.replay import ReplayBuffer, TransitionBatch
from stateful_rl.encoders.feedforward import NumpyMLP, StackedMLP, mlp

# Rows per target-network pass: its [rows, 256] temporaries stay small enough for the
# allocator to reuse them, where one pass over a whole phase (thousands of rows) allocates
# multi-MB buffers that the system returns and faults in again every phase.
TARGET_BLOCK_ROWS = 128


@dataclass
class DQNConfig(AgentConfig):
    """DQN hyper-parameters; defaults are Stable-Baselines3's DQN defaults.

    learning_rate: Adam step size, or ``"lin_<x>"``: decay linearly from ``x`` to 0 over each
        ``learn`` call (rl-baselines3-zoo's notation).
    buffer_size: replay capacity in transitions (all envs together).
    learning_starts: env steps collected before training starts.
    batch_size: transitions per gradient step.
    gamma: discount factor.
    train_freq: env steps (summed over envs) between training phases.
    gradient_steps: gradient steps per training phase.
    target_update_interval: env steps between target-network updates.
    tau: target update ``θ' ← τ θ + (1 − τ) θ'`` (1: hard copy).
    exploration_fraction: fraction of ``total_timesteps`` over which ε decays linearly.
    exploration_initial_eps, exploration_final_eps: ε at the start and after the decay.
    max_grad_norm: gradient-norm clipping threshold.
    net_arch: hidden layer widths of the Q-network (ReLU).
    double: Double DQN targets (online arg-max, target evaluation).
    n_step: steps of the n-step return (1: ordinary one-step targets).
    loss: "huber" (smooth L1, as SB3) or "mse".
    policy_temperature: 0 (default) acts by the arg-max of Q, as DQN; ``τ > 0`` samples each
        action from ``softmax(Q / τ)`` (``τ`` in return units) wherever the agent does not
        explore: in training, evaluations and ``predict(deterministic=True)``. Under partial
        observability the best memoryless policy can be stochastic (Singh, Jaakkola &
        Jordan 1994), which no arg-max of a feed-forward Q-network can express.
    """

    learning_rate: float | str = 1e-4
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    batch_size: int = 32
    gamma: float = 0.99
    train_freq: int = 4
    gradient_steps: int = 1
    target_update_interval: int = 10_000
    tau: float = 1.0
    exploration_fraction: float = 0.1
    exploration_initial_eps: float = 1.0
    exploration_final_eps: float = 0.05
    max_grad_norm: float = 10.0
    net_arch: tuple[int, ...] = (64, 64)
    double: bool = False
    n_step: int = 1
    loss: str = "huber"
    policy_temperature: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        for key in ("buffer_size", "batch_size", "train_freq", "n_step", "target_update_interval"):
            if getattr(self, key) < 1:
                raise ValueError(f"{name}.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("learning_starts", "gradient_steps"):
            if getattr(self, key) < 0:
                raise ValueError(f"{name}.{key} must be >= 0, got {getattr(self, key)}")
        for key in ("gamma", "tau", "exploration_fraction"):
            if not 0 <= getattr(self, key) <= 1:
                raise ValueError(f"{name}.{key} must be in [0, 1], got {getattr(self, key)}")
        if self.loss not in ("huber", "mse"):
            raise ValueError(f"{name}.loss must be 'huber' or 'mse', got {self.loss!r}")
        if self.max_grad_norm <= 0:
            raise ValueError(f"{name}.max_grad_norm must be > 0, got {self.max_grad_norm}")
        if self.policy_temperature < 0:
            raise ValueError(
                f"{name}.policy_temperature must be >= 0, got {self.policy_temperature}"
            )
        self.learning_rate_at(1.0)  # validates learning_rate

    def learning_rate_at(self, progress_remaining: float) -> float:
        """The Adam step size with ``progress_remaining`` of the ``learn`` call left (1 -> 0)."""
        lr = self.learning_rate
        start = lr[4:] if isinstance(lr, str) and lr.startswith("lin_") else lr
        try:
            value = float(start)
        except ValueError:
            value = -1.0
        if isinstance(lr, bool) or not value > 0:
            raise ValueError(
                f"{type(self).__name__}.learning_rate must be a float > 0 or 'lin_<float > 0>', "
                f"got {lr!r}"
            )
        return value * progress_remaining if isinstance(lr, str) else value


def q_head(input_dim: int, net_arch: tuple[int, ...], n_actions: int) -> nn.Sequential:
    """ReLU MLP ``input_dim -> net_arch -> n_actions`` (Q-values, one per action)."""
    last = net_arch[-1] if net_arch else input_dim
    return nn.Sequential(mlp(input_dim, net_arch, nn.ReLU), nn.Linear(last, n_actions))


def distinct_next(batch: TransitionBatch[torch.Tensor]) -> torch.Tensor:
    """``batch.next_index``, set when the batch was sampled with ``distinct_next``."""
    if batch.next_index is None:
        raise ValueError("the batch has no next_index: sample it with distinct_next=True")
    return batch.next_index


class StackedSteps:
    """The gradient steps of one batched phase of ``S`` seeds: their networks
    (:class:`StackedMLP`) and optimisers (:class:`StackedClippedAdam`) stacked; :meth:`finish`
    writes the results back into the seeds."""

    def __init__(self, agents: Sequence[DQN], nets: list[nn.Module]) -> None:
        self.agents = agents
        self.net = StackedMLP(nets)
        optimizers = [agent.optimizer for agent in agents]
        self.optimizer = StackedClippedAdam(optimizers, list(self.net.parameters()))
        self.losses: list[torch.Tensor] = []

    def step(self, x: torch.Tensor, loss_of: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """One step on inputs ``x[S, N, F]``: ``loss_of(outputs[S, N, O])`` is each seed's loss
        ``[S]`` (autograd takes it to the outputs, the stacked network the rest of the way)."""
        out = self.net.forward_train(x).detach().requires_grad_()
        loss = loss_of(out)
        loss.sum().backward()
        assert out.grad is not None  # out requires grad and the losses depend on it
        self.net.backward(out.grad)
        self.optimizer.clip_and_step()
        self.losses.append(loss.detach())

    def finish(self) -> list[torch.Tensor]:
        """Write weights and optimiser state back into the seeds; each seed's losses ``[n]``."""
        self.net.write_back()
        self.optimizer.write_back()
        for agent in self.agents:
            agent._n_updates += len(self.losses)
        return list(torch.stack(self.losses, dim=1))


class DQN(BaseAgent):
    """Feed-forward DQN / Double DQN on a replay buffer of n-step transitions.

    Example::

        agent = DQN("CartPole-v1", learning_rate=2.3e-3, double=True, seed=0)
        agent.learn(50_000)
        action, _ = agent.predict(obs)
    """

    config_class = DQNConfig
    config: DQNConfig
    _target_updates_due = 0  # target updates since the last training phase
    _numpy_q: NumpyMLP | None = None  # the Q-network for acting in numpy (CPU)

    def _build(self) -> None:
        cfg = self.config
        self.q_net = q_head(self.obs_dim, cfg.net_arch, self.n_actions).to(self.device)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        if NumpyMLP.supports(self.q_net):
            self._numpy_q = NumpyMLP(self.q_net)
        self.optimizer = ClippedAdam(
            self.q_net.parameters(), cfg.learning_rate_at(1.0), cfg.max_grad_norm
        )

    def _make_replay_buffer(self, n_envs: int) -> ReplayBuffer:
        return ReplayBuffer(self.config.buffer_size, n_envs, self.obs_dim)

    def _modules(self) -> dict[str, nn.Module]:
        return {"q_net": self.q_net}

    def _restore(self, snapshot: dict[str, Any]) -> None:
        super()._restore(snapshot)
        for online, target in zip(self.q_modules(), self.target_modules(), strict=True):
            target.load_state_dict(online.state_dict())

    def _greedy_actions(
        self, obs: torch.Tensor, state: State, episode_start: torch.Tensor | None
    ) -> tuple[torch.Tensor, State]:
        return self._policy_actions(self.q_net(obs)), state

    def _greedy_actions_numpy(self, flat: np.ndarray) -> np.ndarray | None:
        if self._numpy_q is None:
            return None
        q = self._numpy_q(self._normalize_numpy(flat))
        return q.argmax(axis=1) if self.config.policy_temperature == 0 else self._softmax_draw(q)

    def _policy_actions(self, q: torch.Tensor) -> torch.Tensor:
        """Actions ``[N]`` of the trained policy for Q-values ``q[N, A]``: the arg-max, or
        a draw from ``softmax(q / policy_temperature)`` (the agent's generator)."""
        if self.config.policy_temperature == 0:
            return q.argmax(dim=1)
        return torch.from_numpy(self._softmax_draw(q.cpu().numpy())).to(q.device)

    def _softmax_draw(self, q: np.ndarray) -> np.ndarray:
        """One action per row of ``q[N, A]`` with probabilities ``softmax(q / τ)``."""
        logits = (q - q.max(axis=1, keepdims=True)) / self.config.policy_temperature
        cumulative = np.exp(logits).cumsum(axis=1)
        u = self.rng.random((len(q), 1)) * cumulative[:, -1:]
        return np.minimum((u >= cumulative).sum(axis=1), q.shape[1] - 1)

    # ----------------------------------------------------------------- training
    def _after_step(self, before: int) -> None:
        cfg, now = self.config, self.num_timesteps
        span = max(self._total_timesteps - self._learn_start, 1)
        done = (now - self._learn_start) / span  # fraction of this learn call done
        progress = min(done / (cfg.exploration_fraction + 1e-12), 1.0)
        self.exploration_rate = cfg.exploration_initial_eps + progress * (
            cfg.exploration_final_eps - cfg.exploration_initial_eps
        )
        self._target_updates_due += multiples_crossed(cfg.target_update_interval, before, now)
        if now > cfg.learning_starts:
            n_updates = multiples_crossed(cfg.train_freq, before, now) * cfg.gradient_steps
            if n_updates:
                if isinstance(cfg.learning_rate, str):  # a schedule
                    self.optimizer.param_groups[0]["lr"] = cfg.learning_rate_at(max(1 - done, 0))
                if self._target_updates_due:
                    self._update_target(self._target_updates_due)
                    self._target_updates_due = 0
                self._train(n_updates)

    @torch.no_grad()
    def _update_target(self, times: int = 1) -> None:
        """``θ' ← τ θ + (1 − τ) θ'`` ``times`` times for every parameter (the online θ is
        the same each time: one copy when ``τ = 1``)."""
        online = [p for m in self.q_modules() for p in m.parameters()]
        target = [p for m in self.target_modules() for p in m.parameters()]
        if self.config.tau == 1.0:
            times = min(times, 1)
        for _ in range(times):
            for t, o in zip(target, online, strict=True):
                t.lerp_(o, self.config.tau)

    def q_modules(self) -> list[nn.Module]:
        """The trained modules (their parameters are optimised and copied to the target)."""
        return [self.q_net]

    def target_modules(self) -> list[nn.Module]:
        """The target copies of :meth:`q_modules`, in the same order."""
        return [self.target_net]

    def _td_loss(
        self,
        q: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor | None = None,
        stacked: bool = False,
    ) -> torch.Tensor:
        """Huber/MSE between Q and targets; a masked mean when ``mask`` (1 = counts) is given.
        ``stacked``: ``q``, ``target`` (and ``mask``) stack ``S`` seeds along dim 0: one loss
        per seed ``[S]``, each reduced as the seed's own loss is."""
        fn = F.smooth_l1_loss if self.config.loss == "huber" else F.mse_loss
        if not stacked:
            if mask is None:
                return fn(q, target)
            return (fn(q, target, reduction="none") * mask).sum() / mask.sum().clamp(min=1.0)
        dims = tuple(range(1, q.dim()))
        per_sample = fn(q, target, reduction="none")
        if mask is None:
            return per_sample.mean(dims)
        return (per_sample * mask).sum(dims) / mask.sum(dims).clamp(min=1.0)

    def _optimize(self, loss: torch.Tensor) -> None:
        """One Adam step on ``loss`` with gradient-norm clipping."""
        params = self.optimizer.param_groups[0]["params"]
        for p in params:  # zero_grad(set_to_none=True) without its per-call profiler hooks
            p.grad = None
        loss.backward()
        self.optimizer.clip_and_step()
        self._n_updates += 1

    def _bootstrap(
        self, next_q_target: torch.Tensor, next_q_online: torch.Tensor | None
    ) -> torch.Tensor:
        """``Q_target(s', a*)``: ``a*`` from the online Q (Double DQN) or the target Q."""
        q = next_q_online if next_q_online is not None else next_q_target
        return next_q_target.gather(-1, q.argmax(dim=-1, keepdim=True)).squeeze(-1)

    def _end_phase(self, losses: torch.Tensor) -> None:
        """Stop on a non-finite loss (naming the env step), else log the phase's mean loss
        (``losses[n]``: one per update)."""
        mean_loss = losses.mean()
        self._check_finite(mean_loss)
        self.logger.record("train/loss", mean_loss.item())

    def seed_batch_error(self) -> str | None:
        if not StackedMLP.supports(self.q_net):
            return f"its Q-network is not a Linear/activation stack: {self.q_net}"
        return stacking_error(self.optimizer)

    def _train(self, n_updates: int) -> None:
        """One training phase: ``n_updates`` gradient steps on fresh batches (together with
        the other seeds' phases when the agent trains in a seed batch)."""
        batch = self._sample_phase(n_updates)
        seat = self._batch_seat()
        if seat is None:
            losses = self._updates(batch, n_updates)
        else:
            losses = seat.hand_over(DQN._updates_together, self._stack_key(n_updates),
                                    (self, batch, n_updates))  # fmt: skip
        self._end_phase(losses)

    def _sample_phase(self, n_updates: int) -> TransitionBatch:
        """The batches of ``n_updates`` updates, drawn at once with the agent's generator, on
        the device, observations normalised; ``next_obs`` holds each distinct bootstrap
        observation once (``next_index``)."""
        cfg = self.config
        batch = (
            self._buffer()
            .sample_transitions(
                n_updates * cfg.batch_size, self.rng, cfg.n_step, cfg.gamma, distinct_next=True
            )
            .to_torch(self.device)
        )
        batch.obs, batch.next_obs = self._normalize(batch.obs), self._normalize(batch.next_obs)
        return batch

    def _updates(self, batch: TransitionBatch, n_updates: int) -> torch.Tensor:
        """``n_updates`` gradient steps on the chunks of ``batch``; their losses ``[n]``."""
        cfg = self.config
        next_q, targets = self._phase_targets(batch)
        phase = (batch.obs, batch.actions.unsqueeze(1), targets, next_q, distinct_next(batch),
                 batch.returns, batch.discounts)  # fmt: skip
        losses = []
        for obs, actions, target, target_next_q, next_index, returns, discounts in zip(
            *(t.chunk(n_updates) for t in phase), strict=True
        ):
            if cfg.double:  # the online arg-max uses the online network of this update
                with torch.no_grad():
                    boot = self._bootstrap(target_next_q, self.q_net(batch.next_obs[next_index]))
                target = returns + discounts * boot
            if obs.data_ptr() % 64:  # MKL rounds unaligned inputs differently (see aligned)
                obs = obs.clone()
            q = self.q_net(obs).gather(1, actions).squeeze(1)
            loss = self._td_loss(q, target)
            self._optimize(loss)
            losses.append(loss.detach())
        return torch.stack(losses)

    @torch.no_grad()
    def _phase_targets(self, batch: TransitionBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The target network's Q-values of each transition's bootstrap observation
        ``[n B, A]`` (computed once per distinct observation, in blocks) and the targets
        ``[n B]`` they give (Double DQN's are recomputed per update)."""
        blocks = batch.next_obs.split(TARGET_BLOCK_ROWS)
        next_q = torch.cat([self.target_net(block) for block in blocks])[batch.next_index]
        return next_q, batch.returns + batch.discounts * self._bootstrap(next_q, None)

    def _stack_key(self, n_updates: int) -> tuple:
        """What phases computed together must share (architecture, batch, optimiser step)."""
        cfg = self.config
        return (str(self.device), self.obs_dim, self.n_actions, cfg.net_arch, cfg.batch_size,
                cfg.double, cfg.loss, n_updates, self.optimizer.param_groups[0]["lr"],
                StackedClippedAdam.step_count(self.optimizer))  # fmt: skip

    @staticmethod
    def _updates_together(work: list[tuple[DQN, TransitionBatch, int]]) -> list[torch.Tensor]:
        """:meth:`_updates` of ``S`` seeds (equal :meth:`_stack_key`) as one computation: their
        networks and optimiser state stacked, each update one batched forward, backward and
        Adam step, written back into the seeds at the end; each seed's losses ``[n]``."""
        agents = [agent for agent, _, _ in work]
        batches = [batch for _, batch, _ in work]
        lead, n_updates = agents[0], work[0][2]
        steps = StackedSteps(agents, [agent.q_net for agent in agents])
        seeds = torch.arange(len(agents), device=lead.device).unsqueeze(1)

        def per_update(values: list[torch.Tensor]) -> torch.Tensor:
            """Per-seed ``[n B, ...]`` tensors -> ``[n, S, B, ...]`` (update-major)."""
            stacked = torch.stack(values)
            return stacked.unflatten(1, (n_updates, -1)).transpose(0, 1).contiguous()

        # each seed's own target network: its weights stay in cache over its blocks
        phase_targets = [a._phase_targets(b) for a, b in zip(agents, batches, strict=True)]
        seed_next_q, seed_targets = ([t[i] for t in phase_targets] for i in (0, 1))
        if lead.config.double:  # the bootstrap observations, padded to a common count
            rows = max(len(batch.next_obs) for batch in batches)
            next_obs = torch.stack([F.pad(b.next_obs, (0, 0, 0, rows - len(b.next_obs)))
                                    for b in batches])  # fmt: skip
        obs, actions, next_index, returns, discounts, next_q, targets = (
            per_update(values) for values in (
                [b.obs for b in batches], [b.actions for b in batches],
                [distinct_next(b) for b in batches], [b.returns for b in batches],
                [b.discounts for b in batches], seed_next_q, seed_targets)
        )  # fmt: skip
        for u in range(n_updates):
            target = targets[u]
            if lead.config.double:
                with torch.no_grad():
                    online = steps.net(next_obs[seeds, next_index[u]])
                    target = returns[u] + discounts[u] * lead._bootstrap(next_q[u], online)

            def loss_of(
                out: torch.Tensor, a: torch.Tensor = actions[u], y: torch.Tensor = target
            ) -> torch.Tensor:
                return lead._td_loss(out.gather(2, a.unsqueeze(2)).squeeze(2), y, stacked=True)

            steps.step(obs[u], loss_of)
        return steps.finish()
