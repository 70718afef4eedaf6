"""Neural Fitted Q iteration (Riedmiller, ECML 2005, "Neural fitted Q iteration").

Batch mode as in the paper: ``learn`` collects whole episodes into the replay buffer
(``random_episodes`` with uniform random actions, then ``greedy_episodes`` with the current
greedy policy: the "growing batch"), then runs one NFQ iteration on *every* stored
transition, and repeats. One iteration computes the targets with the current network

    cost form (``objective="cost"``, c = −reward):  y = c(s, a) + γ · min_b Q(s′, b)
    reward form (``objective="reward"``):           y = r(s, a) + γ · max_b Q(s′, b)

(no bootstrap after termination; a truncated episode bootstraps from its final
observation), then fits Q(s, a) to y on the whole set, full batch, for ``epochs`` epochs of
Rprop (``torch.optim.Rprop``), by default from a freshly initialised network (``refit``).
The default network is the paper's: state and one-hot action in, two hidden layers of 5
sigmoid units, one output.

Hint-to-goal (the paper's heuristic, cost form only): every fit adds ``hint_to_goal``
artificial patterns ``(s, a) -> 0``, with ``s`` drawn uniformly from the goal box
``[goal_low, goal_high]`` (raw observation units) once, at the first fit, with the agent's
generator, and ``a = i mod n_actions`` for pattern ``i``. Nothing else is added.

The fit runs on the agent's device unchanged (``device="auto"`` picks CUDA when present):
full-batch fits on 10⁵–10⁶ transitions are where a GPU pays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stateful_rl.agents.base import AgentConfig, BaseAgent, State
from stateful_rl.agents.optim import flat_parameters
from stateful_rl.agents.replay import ReplayBuffer, TransitionBatch
from stateful_rl.agents.spaces import flatten_observations
from stateful_rl.encoders.feedforward import mlp

ACTIVATIONS: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


@dataclass
class NFQConfig(AgentConfig):
    """NFQ hyper-parameters; defaults follow the paper's classic-task setting.

    gamma: discount factor (the paper's 0.98).
    objective: "cost" (minimise; the cost is −reward, targets use min) or "reward" (maximise).
    net_arch: hidden layer widths of the Q-network.
    activation: hidden activation, "sigmoid" (paper), "tanh" or "relu".
    action_input: True: the paper's Q(s, a) network with the one-hot action as input and one
        output (evaluated once per action); False: one output per action (as DQN).
    epochs: Rprop epochs (full-batch steps) per NFQ iteration.
    rprop_step: Rprop's initial step size (``lr`` of ``torch.optim.Rprop``; Riedmiller's Δ₀).
    refit: re-initialise the network before every fit (the paper); False warm-starts it.
    random_episodes: episodes with uniform random actions collected per iteration.
    greedy_episodes: episodes with the greedy policy (ε = ``greedy_epsilon``) per iteration.
    greedy_epsilon: ε of the greedy episodes.
    buffer_size: transitions kept (all of them are fitted at every iteration).
    hint_to_goal: artificial goal patterns per fit (0: off; needs ``objective="cost"``).
    goal_low, goal_high: the goal box of the hint-to-goal states (raw observation units).
    ensemble: act and bootstrap with the mean Q of the last ``ensemble`` fitted networks
        (1: the paper; > 1 smooths the policy from one iteration to the next).
    """

    gamma: float = 0.98
    objective: str = "cost"
    net_arch: tuple[int, ...] = (5, 5)
    activation: str = "sigmoid"
    action_input: bool = True
    epochs: int = 300
    rprop_step: float = 0.01
    refit: bool = True
    random_episodes: int = 1
    greedy_episodes: int = 1
    greedy_epsilon: float = 0.0
    buffer_size: int = 1_000_000
    hint_to_goal: int = 0
    goal_low: tuple[float, ...] = ()
    goal_high: tuple[float, ...] = ()
    ensemble: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        if self.objective not in ("cost", "reward"):
            raise ValueError(f"{name}.objective must be 'cost' or 'reward', got {self.objective!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"{name}.activation must be one of {list(ACTIVATIONS)}")
        for key in ("epochs", "buffer_size", "ensemble"):
            if getattr(self, key) < 1:
                raise ValueError(f"{name}.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("random_episodes", "greedy_episodes", "hint_to_goal"):
            if getattr(self, key) < 0:
                raise ValueError(f"{name}.{key} must be >= 0, got {getattr(self, key)}")
        if self.random_episodes + self.greedy_episodes < 1:
            raise ValueError(f"{name}: random_episodes + greedy_episodes must be >= 1")
        if not 0 <= self.gamma <= 1 or not 0 <= self.greedy_epsilon <= 1:
            raise ValueError(f"{name}.gamma and greedy_epsilon must be in [0, 1]")
        if self.rprop_step <= 0:
            raise ValueError(f"{name}.rprop_step must be > 0, got {self.rprop_step}")
        if self.hint_to_goal:
            if self.objective != "cost":
                raise ValueError(f"{name}.hint_to_goal needs objective='cost' (goal target 0)")
            low, high = np.array(self.goal_low), np.array(self.goal_high)
            if low.size == 0 or low.shape != high.shape or np.any(low > high):
                raise ValueError(
                    f"{name}.hint_to_goal needs goal_low <= goal_high of equal length, "
                    f"got {self.goal_low} and {self.goal_high}"
                )


class QNetwork(nn.Module):
    """Q-values ``[N, A]`` of observations ``obs[N, F]``.

    ``action_input=True``: the paper's form, one MLP over ``[s, one_hot(a)]`` with a single
    output, evaluated for every action; otherwise an MLP with ``A`` outputs.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        net_arch: tuple[int, ...],
        activation: str,
        action_input: bool,
    ) -> None:
        super().__init__()
        self.n_actions = n_actions
        self.action_input = action_input
        in_dim = obs_dim + (n_actions if action_input else 0)
        last = net_arch[-1] if net_arch else in_dim
        self.net = nn.Sequential(
            mlp(in_dim, net_arch, ACTIVATIONS[activation]),
            nn.Linear(last, 1 if action_input else n_actions),
        )

    def forward(self, obs: torch.Tensor, actions: torch.Tensor | None = None) -> torch.Tensor:
        """``Q(obs, ·)[N, A]``, or ``Q(obs, actions)[N]`` when ``actions[N]`` is given."""
        if not self.action_input and actions is None:
            return self.net(obs)
        if actions is not None:
            return self.select(self.net(self.net_input(obs, actions)), actions)
        n, a = obs.shape[0], self.n_actions
        eye = torch.eye(a, dtype=obs.dtype, device=obs.device).repeat(n, 1)
        return self.net(torch.cat([obs.repeat_interleave(a, dim=0), eye], dim=1)).view(n, a)

    def net_input(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The MLP's input rows for ``Q(obs[N, F], actions[N])``: ``[obs, one_hot(actions)]``
        (``action_input``) or ``obs``."""
        if not self.action_input:
            return obs
        return torch.cat([obs, F.one_hot(actions, self.n_actions).to(obs.dtype)], dim=-1)

    def select(self, out: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``Q(obs, actions)[...]`` from the MLP's outputs ``out[..., O]`` on :meth:`net_input`."""
        if self.action_input:
            return out.squeeze(-1)
        return out.gather(-1, actions.unsqueeze(-1)).squeeze(-1)

    def reset_parameters(self) -> None:
        """Fresh random weights (torch's default initialisation, from torch's generator)."""
        for module in self.net.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters()


def rprop_fit(
    params: list[torch.nn.Parameter],
    loss_fn,
    epochs: int,
    step: float,
    views: list[torch.nn.Parameter] | None = None,
) -> float:
    """Minimise ``loss_fn()`` with full-batch ``torch.optim.Rprop`` for ``epochs`` steps.

    ``views``: the parameters whose values ``params[0]`` holds (:func:`flat_parameters`);
    their gradients are gathered into it after each backward pass.
    Returns the loss after the last step (a fresh Rprop, so step sizes start at ``step``).
    """
    optimizer = torch.optim.Rprop(params, lr=step)
    for _ in range(epochs):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        if views is not None:
            grads = []
            for v in views:
                assert v.grad is not None  # every view is a leaf of loss_fn's graph
                grads.append(v.grad.reshape(-1))
                v.grad = None
            params[0].grad = torch.cat(grads)
        optimizer.step()
    with torch.no_grad():
        return float(loss_fn())


class NFQ(BaseAgent):
    """Neural Fitted Q iteration, feed-forward (see the module docstring).

    Example::

        agent = NFQ("CartPole-v1", objective="reward", seed=0, eval_freq=1)
        agent.learn(10_000)
        agent.restore_best()
        # offline: K iterations on a fixed transition set
        agent.fit_batch(batch, iterations=20)
    """

    config_class = NFQConfig
    config: NFQConfig

    def _build(self) -> None:
        cfg = self.config
        if cfg.hint_to_goal and len(cfg.goal_low) != self.obs_dim:
            raise ValueError(
                f"goal_low/goal_high have {len(cfg.goal_low)} entries, the observation "
                f"{self.obs_dim}"
            )
        self.q_nets = nn.ModuleList([self._new_q_net() for _ in range(cfg.ensemble)])
        self.exploration_rate = 1.0 if cfg.random_episodes else cfg.greedy_epsilon
        self.n_episodes = 0
        self._n_fits = 0
        self._fitted_now = False
        self._hint_obs: np.ndarray | None = None

    def _new_q_net(self) -> QNetwork:
        cfg = self.config
        net = QNetwork(self.obs_dim, self.n_actions, cfg.net_arch, cfg.activation, cfg.action_input)
        return net.to(self.device)

    def _modules(self) -> dict[str, nn.Module]:
        return {"q_nets": self.q_nets}

    def _make_replay_buffer(self, n_envs: int) -> ReplayBuffer:
        return ReplayBuffer(self.config.buffer_size, n_envs, self.obs_dim)

    # ----------------------------------------------------------------- Q-values
    @property
    def _sign(self) -> float:
        """+1 for the reward form (maximise Q), −1 for the cost form (minimise Q)."""
        return -1.0 if self.config.objective == "cost" else 1.0

    def _q(self, obs: torch.Tensor) -> torch.Tensor:
        """Mean Q ``[N, A]`` over the ensemble of normalised ``obs[N, F]``."""
        return torch.stack([net(obs) for net in self.q_nets]).mean(0)

    def _best(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The best value ``[N]`` (min for costs, max for rewards) and its action ``[N]``."""
        values, actions = (q * self._sign).max(dim=-1)
        return values * self._sign, actions

    @torch.no_grad()
    def q_values(self, observation: np.ndarray) -> np.ndarray:
        """Q-values ``[N, A]`` (costs-to-go in the cost form) of raw observations ``[N, ...]``."""
        flat, _ = flatten_observations(self.observation_space, observation)
        return self._q(self._obs_tensor(flat)).cpu().numpy()

    def _greedy_actions(
        self, obs: torch.Tensor, state: State, episode_start: torch.Tensor | None
    ) -> tuple[torch.Tensor, State]:
        return self._best(self._q(obs))[1], state

    # ----------------------------------------------------------------- collection schedule
    def _after_step(self, before: int) -> None:
        """Count finished episodes; after each iteration's episodes, fit; set ε for the next."""
        self._fitted_now = False
        finished = int(self._episode_start.sum())  # the autoreset step just stored final obs
        if not finished:
            return
        cfg = self.config
        per_iteration = cfg.random_episodes + cfg.greedy_episodes
        done_before = self.n_episodes
        self.n_episodes += finished
        if self.n_episodes // per_iteration > done_before // per_iteration:
            self._fit_buffer()
            self._fitted_now = True
        in_iteration = self.n_episodes % per_iteration
        self.exploration_rate = 1.0 if in_iteration < cfg.random_episodes else cfg.greedy_epsilon

    def _should_evaluate(self, before: int) -> bool:
        """Evaluate right after a fit, at most once per ``eval_freq`` env steps."""
        if not (self._fitted_now and self.config.eval_freq):
            return False
        last = self.eval_history[-1][0] if self.eval_history else -math.inf
        return self.num_timesteps - last >= self.config.eval_freq

    def _fit_buffer(self) -> None:
        """One NFQ iteration on everything stored in the replay buffer; log its loss."""
        loss, n_transitions = self._iterate_on_buffer()
        self.logger.record("train/loss", loss)
        self.logger.record("train/n_transitions", n_transitions)
        self.logger.record("train/n_fits", self._n_fits)

    def _iterate_on_buffer(self) -> tuple[float, int]:
        """One iteration on every stored transition: (fit loss, number of transitions)."""
        buffer = self._buffer()
        t, env = buffer.valid_transitions(n_step=1)
        return self.fit_batch(buffer.transitions(t, env, 1, self.config.gamma)), len(t)

    # ----------------------------------------------------------------- fitting
    def hint_patterns(self) -> tuple[np.ndarray, np.ndarray]:
        """The hint-to-goal patterns: raw observations ``[H, F]`` and actions ``[H]``
        (target 0 each); empty when ``hint_to_goal`` is 0. Drawn once, then fixed."""
        cfg = self.config
        if self._hint_obs is None:
            low = np.asarray(cfg.goal_low, dtype=np.float32)
            high = np.asarray(cfg.goal_high, dtype=np.float32)
            shape = (cfg.hint_to_goal, self.obs_dim)
            self._hint_obs = (
                self.rng.uniform(low, high, shape).astype(np.float32)
                if cfg.hint_to_goal
                else np.zeros(shape, dtype=np.float32)
            )
        return self._hint_obs, np.arange(cfg.hint_to_goal) % self.n_actions

    def fit_batch(self, batch: TransitionBatch, iterations: int = 1) -> float:
        """Run ``iterations`` NFQ iterations on a fixed set of transitions.

        ``batch``: raw (unnormalised) ``obs[M, F]``, ``actions[M]`` (from 0), ``returns[M]``
        (env rewards), ``next_obs[M, F]``, ``discounts[M]`` (γ, or 0 after termination).
        Returns the mean squared error of the last fit to its targets.
        """
        if len(batch.actions) == 0:
            raise ValueError(f"{type(self).__name__}.fit_batch: the transition set is empty")
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        data = batch.to_torch(self.device)
        actions = data.actions.long()
        if actions.min() < 0 or actions.max() >= self.n_actions:
            raise ValueError(f"actions must lie in [0, {self.n_actions}), got {actions.unique()}")
        obs, next_obs = self._normalize(data.obs.float()), self._normalize(data.next_obs.float())
        hint_obs, hint_actions = self.hint_patterns()
        inputs = torch.cat([obs, self._obs_tensor(hint_obs)])
        actions = torch.cat([actions, torch.as_tensor(hint_actions, device=self.device)])
        gains = data.returns.float() * self._sign  # the cost c = −reward in the cost form
        loss = math.nan
        for _ in range(iterations):
            with torch.no_grad():
                boot = self._best(self._q(next_obs))[0]
                targets = gains + data.discounts.float() * boot
                targets = torch.cat([targets, targets.new_zeros(len(hint_actions))])
            loss = self._fit(inputs, actions, targets)
        return loss

    def _fit(self, inputs: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor) -> float:
        """Fit a network (fresh if ``refit``) to ``targets[M]`` and rotate it into the ensemble."""
        net = self.q_nets[-1] if not self.config.refit else self._new_q_net()
        if not self.config.refit and self.config.ensemble > 1:
            net = self._new_q_net()
            net.load_state_dict(self.q_nets[-1].state_dict())
        seat = self._batch_seat()
        if seat is None:
            loss = rprop_fit(
                list(net.parameters()),
                lambda: F.mse_loss(net(inputs, actions), targets),
                self.config.epochs,
                self.config.rprop_step,
            )
        else:
            cfg = self.config
            work = (net, inputs, actions, targets, cfg.epochs, cfg.rprop_step)
            loss = seat.hand_over(NFQ._fits_together, self._fit_key(), work)
        self._check_finite(torch.tensor(loss))
        # The newest network goes last; before the first fit every slot holds it.
        first = self._n_fits == 0
        nets = [net] * len(self.q_nets) if first else [*list(self.q_nets)[1:], net]
        self.q_nets = nn.ModuleList(nets)
        self._n_fits += 1
        self._n_updates += self.config.epochs
        return loss

    def seed_batch_error(self) -> str | None:
        return None

    def _fit_key(self) -> tuple:
        """What fits computed together must share (architecture, epochs, step size)."""
        cfg = self.config
        return (str(self.device), self.obs_dim, self.n_actions, cfg.net_arch, cfg.activation,
                cfg.action_input, cfg.epochs, cfg.rprop_step)  # fmt: skip

    @staticmethod
    def _fits_together(work: list[tuple]) -> list[float]:
        """The Rprop fits of ``S`` seeds (equal :meth:`_fit_key`), each ``(net, inputs[M_s],
        actions[M_s], targets[M_s], epochs, step)``, as one fit: every epoch each seed's loss
        on its own network and rows (the single-seed computation: the row counts differ,
        and MKL's rounding depends on a product's row count), one backward pass through
        all of them and one Rprop step over all their parameters at once (elementwise, so
        each seed's values are those of its own fit). Each seed's loss after its fit, as
        :func:`rprop_fit` returns it."""
        epochs, step = work[0][4:]
        params = [p for net, *_ in work for p in net.parameters()]

        def losses() -> torch.Tensor:
            return torch.stack([F.mse_loss(net(x, a), y) for net, x, a, y, *_ in work])

        with flat_parameters(params) as flat:
            rprop_fit([flat], lambda: losses().sum(), epochs, step, views=params)
        with torch.no_grad():
            return losses().tolist()
