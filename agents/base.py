"""The base class of every agent: environments, seeding, collection loop, evaluation, save/load.

The public API follows Stable-Baselines3: ``Agent(env, config=None, *, device="auto",
seed=None, verbose=0, tensorboard_log=None, eval_env=None, **hyper_parameters)``,
``learn(total_timesteps, callback=None, log_interval=..., progress_bar=False)``,
``predict(obs, state=None, episode_start=None, deterministic=True) -> (action, state)``
(works with SB3's ``evaluate_policy``), ``save(path)`` / ``Agent.load(path, env=None,
device=...)``, ``set_logger``. Environments are Gymnasium envs, env ids or Gymnasium
vector envs (``NEXT_STEP`` autoreset, the Gymnasium default); a single env is wrapped in a
``SyncVectorEnv`` of one.

How a new agent subclasses :class:`BaseAgent` (DQN, RecurrentDQN and NFQ do this):

1. Write a ``@dataclass`` config that inherits :class:`AgentConfig`; document each default
   in its docstring. Set ``config_class`` to it.
2. Implement ``_build()``: create networks and optimiser from ``self.obs_dim``,
   ``self.n_actions`` and ``self.device``; and ``_make_replay_buffer(n_envs)`` returning a
   :class:`stateful_rl.agents.replay.ReplayBuffer` (made when ``learn`` first resets the
   env; the loop writes every step into ``self.replay_buffer``).
3. Implement ``_modules()``: the ``nn.Module`` s saved in the zip (their buffers, e.g. an
   echo-state reservoir, are saved with them) and restored by ``load``/``restore_best``.
4. Implement ``_greedy_actions(obs[N, F], state, episode_start[N])`` returning greedy
   actions ``[N]`` (long tensor) and the next state; it runs under ``torch.no_grad``
   (``episode_start`` is None for agents that are not recurrent).
   Recurrent agents set ``recurrent = True`` and hold their Q-function as ``self.policy``,
   a :class:`~stateful_rl.agents.policies.RecurrentQNetwork`, whose state (encoder state
   and previous action) ``predict`` and ``learn`` carry between steps.
5. Implement ``_after_step(before)``: called after every vector step of ``learn`` with
   the step count before it; train there (``self.num_timesteps``, :func:`multiples_crossed`,
   ``self._check_finite(loss)``) and set ``self.exploration_rate`` (ε of the ε-greedy
   collection policy).

Everything else (evaluation that keeps the best model, logging, callbacks, progress bar,
observation normalisation, NaN stop, save/load) comes from the base class.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import json
import math
import os
import sys
import time
import typing
import zipfile
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import MISSING, Field, asdict, fields
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback
from stable_baselines3.common.logger import HumanOutputFormat, KVWriter, Logger, configure
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.utils import get_device, set_random_seed
from torch import nn
from tqdm.auto import tqdm

from stateful_rl.agents.config import AgentConfig
from stateful_rl.agents.env_replay import ActionLog
from stateful_rl.agents.evaluation import evaluate_episodes, make_eval_vector_env
from stateful_rl.agents.persistence import (
    UnsafeFileError,
    check_archive,
    check_finite_tensors,
    decode,
    encode,
    global_rng_state,
    load_tensors,
    set_global_rng_state,
    write_atomic,
)
from stateful_rl.agents.policies import RecurrentQNetwork
from stateful_rl.agents.replay import ReplayBuffer
from stateful_rl.agents.seed_batch import Seat, current_seat
from stateful_rl.agents.spaces import (
    check_action_space,
    check_same_space,
    describe_space,
    flatten_observations,
    observation_dim,
    space_from_description,
)

State = tuple[torch.Tensor, ...] | None
EnvLike = gym.Env | gym.vector.VectorEnv | str
CallbackLike = BaseCallback | list[BaseCallback] | Callable[[dict, dict], bool] | None
FORMAT_VERSION = 1
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TORCH_NUM_THREADS")
NORMALIZED_CLIP = 10.0  # normalised observations are clipped to ±this (as SB3's VecNormalize)
TRAINING_STATE_FORMAT = "stateful_rl.training_state"


def multiples_crossed(interval: int, before: int, after: int) -> int:
    """How many multiples of ``interval`` lie in ``(before, after]`` (0 if interval <= 0)."""
    return after // interval - before // interval if interval > 0 else 0


def learning_threads(threads: int | str | None) -> int | None:
    """The torch thread count ``learn`` runs with: ``"auto"`` is 1 unless the user set one
    through ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``/``TORCH_NUM_THREADS`` (then None: keep
    torch's setting); None keeps torch's setting; a number is used as it is."""
    if threads == "auto":
        chosen = any(os.environ.get(v) for v in THREAD_VARIABLES)
        return None if chosen else 1
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):  # fmt: skip
        raise ValueError(f"threads must be 'auto', None or an int >= 1, got {threads!r}")
    return threads


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch threads (None: unchanged), then restore."""
    before = torch.get_num_threads()
    if threads is not None and threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _field_default(f: Field) -> Any:
    """The default of dataclass field ``f`` (from its factory if it has one), else
    ``inspect.Parameter.empty``."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return inspect.Parameter.empty


class BaseAgent(ABC):
    """Shared machinery of the value-based agents (see the module docstring).

    Constructor keywords besides the hyper-parameters (the fields of ``config_class``, also
    accepted as keyword arguments): ``device`` ("auto": CUDA when present), ``seed``,
    ``verbose``, ``tensorboard_log`` (a folder: CSV and TensorBoard logs), ``eval_env`` (an
    env, id or factory for the evaluations that keep the best model; default: built like
    the training env), ``observation_space``/``action_space`` (an agent without an env),
    ``threads`` (torch threads while ``learn`` runs: "auto" is one thread, which for these
    small networks is faster than several on a busy machine, unless ``OMP_NUM_THREADS`` or
    a similar variable says otherwise; None keeps torch's own setting; the setting is
    restored when ``learn`` returns).
    """

    config_class: ClassVar[type[AgentConfig]] = AgentConfig
    recurrent: ClassVar[bool] = False
    policy: RecurrentQNetwork  # the network of the recurrent agents (only they set it)
    _action_log: ActionLog  # the training env's seeds and actions, from the first reset on

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give each agent class a signature listing its hyper-parameters (``help(DQN)``,
        ``inspect.signature``), generated from its config dataclass."""
        super().__init_subclass__(**kwargs)
        own = list(inspect.signature(BaseAgent.__init__).parameters.values())[1:-1]
        hints = typing.get_type_hints(cls.config_class)
        hyper = [
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=_field_default(f),
                annotation=hints[f.name],
            )
            for f in fields(cls.config_class)
        ]
        cls.__signature__ = inspect.Signature(own + hyper)  # type: ignore[attr-defined]

    @classmethod
    def constructor_keywords(cls) -> list[str]:
        """Keyword arguments of the constructor that are not hyper-parameters."""
        parameters = list(inspect.signature(BaseAgent.__init__).parameters.values())
        return [p.name for p in parameters[1:-1]]

    def __init__(
        self,
        env: EnvLike | None,
        config: AgentConfig | dict[str, Any] | None = None,
        *,
        device: torch.device | str = "auto",
        seed: int | None = None,
        verbose: int = 0,
        tensorboard_log: str | None = None,
        eval_env: EnvLike | Callable[[], gym.Env] | None = None,
        observation_space: gym.Space | None = None,
        action_space: gym.Space | None = None,
        threads: int | str | None = "auto",
        **hyper_parameters: Any,
    ) -> None:
        self.threads = learning_threads(threads)
        if config is None:
            config = {}
        if isinstance(config, AgentConfig):
            config = asdict(config)
        self.config = self.config_class.from_dict({**config, **hyper_parameters})
        self.device = get_device(device)
        self.verbose = verbose
        self.env: gym.vector.VectorEnv | None = None
        if env is not None:
            env = self._wrap_env(env)
            observation_space = env.single_observation_space
            action_space = env.single_action_space
        elif observation_space is None or action_space is None:
            raise ValueError("pass an env, or both observation_space and action_space")
        self.observation_space = observation_space
        self.action_space = check_action_space(action_space)
        self.obs_dim = observation_dim(observation_space)
        self.n_actions = int(self.action_space.n)
        self.obs_rms = RunningMeanStd(shape=(self.obs_dim,)) if self.config.normalize_obs else None
        self._obs_norm: tuple[torch.Tensor, torch.Tensor] | None = None  # (μ, σ) on the device
        self.exploration_rate = 0.0
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._learn_start = 0
        self._n_updates = 0
        self._logger: Logger | None = None
        if tensorboard_log is not None:
            formats = ["stdout", "csv", "tensorboard"] if verbose else ["csv", "tensorboard"]
            self._logger = configure(tensorboard_log, formats)
        self._eval_source = eval_env
        self._eval_vec: gym.vector.SyncVectorEnv | None = None
        self.eval_history: list[tuple[int, float, float]] = []  # (env step, mean, std)
        self.best_mean_reward = -math.inf
        self.best_step: int | None = None
        self._best_snapshot: dict[str, Any] | None = None
        self.set_random_seed(seed)
        self.replay_buffer: ReplayBuffer | None = None
        self._build()
        self._sync_obs_stats()
        if env is not None:
            self.set_env(env)
            # Sized up front.
            self.replay_buffer = self._make_replay_buffer(self._training_env().num_envs)

    # ----------------------------------------------------------------- subclass hooks
    @abstractmethod
    def _build(self) -> None:
        """Create networks, optimiser and replay buffer."""

    @abstractmethod
    def _modules(self) -> dict[str, nn.Module]:
        """The modules saved and restored by ``save``/``load``/``restore_best``."""

    @abstractmethod
    def _greedy_actions(
        self, obs: torch.Tensor, state: State, episode_start: torch.Tensor | None
    ) -> tuple[torch.Tensor, State]:
        """Greedy actions ``[N]`` for normalised ``obs[N, F]`` and the next state
        (``episode_start[N]``: bool tensor for recurrent agents, else None)."""

    @abstractmethod
    def _make_replay_buffer(self, n_envs: int) -> ReplayBuffer:
        """The replay buffer for ``n_envs`` training envs."""

    @abstractmethod
    def _after_step(self, before: int) -> None:
        """Train, update targets and ``exploration_rate`` after a vector step of ``learn``;
        ``before`` is ``num_timesteps`` before that step."""

    def seed_batch_error(self) -> str | None:
        """Why this agent cannot train together with other seeds
        (:mod:`~stateful_rl.agents.seed_batch`), or None when it can."""
        return "its training has no batched form"

    def _batch_seat(self) -> Seat | None:
        """The seat of the seed batch whose tasks this agent's training joins, or None: alone,
        or an agent without a batched form (it then trains by itself inside the batch)."""
        seat = current_seat()
        return seat if seat is not None and self.seed_batch_error() is None else None

    def _greedy_actions_numpy(self, flat: np.ndarray) -> np.ndarray | None:
        """Greedy actions ``[N]`` for raw flat ``[N, F]`` observations computed without torch
        (a fast path for small stateless nets on CPU), or None to use ``_greedy_actions``."""
        return None

    def _normalize_numpy(self, flat: np.ndarray) -> np.ndarray:
        """:meth:`_normalize` for numpy observations on CPU."""
        if self._obs_norm is None:
            return flat
        shift, scale = self._obs_norm
        normalized = (flat - shift.numpy()) / scale.numpy()
        return np.clip(normalized, -NORMALIZED_CLIP, NORMALIZED_CLIP)

    def _initial_state(self, n: int) -> State:
        """The agent's state at an episode start for ``n`` envs (None: stateless)."""
        return self.policy.initial_state(n, self.device) if self.recurrent else None

    def _record_actions(self, state: State, actions: torch.Tensor) -> State:
        """The state after ``actions[N]`` were taken (recurrent agents remember them)."""
        if not self.recurrent:
            return state
        assert state is not None  # recurrent agents carry a state
        return self.policy.record_actions(state, actions)

    # ----------------------------------------------------------------- environments
    @staticmethod
    def _wrap_env(env: EnvLike) -> gym.vector.VectorEnv:
        """An env id, env or vector env as a Gymnasium ``NEXT_STEP`` vector env."""
        if isinstance(env, str):
            env = gym.make(env)
        if isinstance(env, gym.Env):
            return gym.vector.SyncVectorEnv([lambda: env])
        if not isinstance(env, gym.vector.VectorEnv):
            raise ValueError(
                f"env must be an env id, a gymnasium.Env or a gymnasium VectorEnv, got {env!r}"
            )
        mode = env.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
        if mode != gym.vector.AutoresetMode.NEXT_STEP:
            raise ValueError(
                f"vector envs must use autoreset_mode=NEXT_STEP (the Gymnasium default), got {mode}"
            )
        return env

    def set_env(self, env: EnvLike) -> None:
        """Use ``env`` for training (its spaces must match the agent's)."""
        env = self._wrap_env(env)
        check_same_space(self.observation_space, env.single_observation_space, "observation space")
        check_same_space(self.action_space, env.single_action_space, "action space")
        self.env = env
        self._last_obs: np.ndarray | None = None

    def _training_env(self) -> gym.vector.VectorEnv:
        """The training vector env, else ``ValueError``."""
        if self.env is None:
            raise ValueError("this agent has no env: pass one to the constructor or set_env")
        return self.env

    def _buffer(self) -> ReplayBuffer:
        """The replay buffer, else ``ValueError``."""
        if self.replay_buffer is None:
            raise ValueError("this agent has no replay buffer: it has not seen an env yet")
        return self.replay_buffer

    def get_env(self) -> gym.vector.VectorEnv | None:
        """The training vector env (for SB3 callbacks)."""
        return self.env

    def get_vec_normalize_env(self) -> None:
        """SB3 callbacks ask for it; normalisation lives in the agent (``normalize_obs``)."""
        return None

    def set_random_seed(self, seed: int | None) -> None:
        """Seed python, numpy, torch, the agent's generator and the action space;
        the training env is reset with ``seed`` (env ``i`` gets ``seed + i``) when ``learn``
        first resets it."""
        self.seed = seed
        if seed is not None:
            set_random_seed(seed, using_cuda=self.device.type == "cuda")
            self.action_space.seed(seed)
        self.rng = np.random.default_rng(seed)
        self._eval_seed = int(self.rng.integers(2**31)) if seed is None else seed + 1_000_000
        self._n_evals = 0
        self._env_seeded = False

    # ----------------------------------------------------------------- acting
    def _obs_tensor(self, flat: np.ndarray) -> torch.Tensor:
        """Flat observations ``[N, F]`` as a normalised float tensor on the device."""
        obs = torch.as_tensor(flat, device=self.device)
        return self._normalize(obs)

    def _normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """Apply the running observation normalisation (identity when it is off), in place."""
        if self._obs_norm is None:
            return obs
        shift, scale = self._obs_norm
        return ((obs - shift) / scale).clamp_(-NORMALIZED_CLIP, NORMALIZED_CLIP)

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """What the networks read for flat observations ``obs[..., F]``: ``(o − μ)/σ``
        clipped to ±``NORMALIZED_CLIP`` with the running statistics (``normalize_obs``), else
        ``obs`` unchanged."""
        return self._normalize(obs.clone())

    def observation_normalization(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(μ, σ)`` of the observation normalisation, each ``[F]`` (None when it is off)."""
        if self._obs_norm is None:
            return None
        shift, scale = self._obs_norm
        return shift.clone(), scale.clone()

    def _sync_obs_stats(self) -> None:
        """Copy the running mean/std to the device (after each update of ``obs_rms``)."""
        if self.obs_rms is not None:
            shift = torch.as_tensor(self.obs_rms.mean, dtype=torch.float32).to(self.device)
            scale = torch.as_tensor(np.sqrt(self.obs_rms.var + 1e-8), dtype=torch.float32)
            self._obs_norm = shift, scale.to(self.device)

    def _act(
        self, flat: np.ndarray, state: State, episode_start: np.ndarray, epsilon: float
    ) -> tuple[np.ndarray, State]:
        """ε-greedy actions ``[N]`` (indices from 0) for flat observations ``[N, F]``."""
        n = len(flat)
        explore = self.rng.random(n) < epsilon
        n_explore = int(np.count_nonzero(explore))
        if not self.recurrent and n_explore == n:
            return self.rng.integers(0, self.n_actions, n), state  # no network call
        actions = self._greedy_actions_numpy(flat)
        if actions is None:
            with torch.no_grad():
                start = torch.from_numpy(episode_start).to(self.device) if self.recurrent else None
                greedy, state = self._greedy_actions(self._obs_tensor(flat), state, start)
            actions = greedy.cpu().numpy()
        if n_explore:
            actions[explore] = self.rng.integers(0, self.n_actions, n_explore)
        if self.recurrent:
            with torch.no_grad():
                state = self._record_actions(state, torch.from_numpy(actions).to(self.device))
        return actions, state

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Actions for one observation or a batch ``[N, ...]`` (as SB3's ``predict``).

        ``state`` is what the previous call returned (None at the start);
        ``episode_start[N]`` marks envs whose episode just began (their state is reset).
        ``deterministic=False`` acts ε-greedily with the current exploration rate. (A DQN
        with ``policy_temperature > 0`` draws its non-exploring actions from a softmax of
        its Q-values either way: that policy is stochastic by design.)
        """
        flat, batched = flatten_observations(self.observation_space, observation)
        n = len(flat)
        if not np.isfinite(flat).all():
            raise ValueError(f"observation holds NaN or inf: {observation!r}")
        starts = np.zeros(n, dtype=bool)
        if episode_start is not None:
            starts = np.asarray(episode_start, dtype=bool)
            if starts.size != n:
                raise ValueError(
                    f"episode_start has {starts.size} entries for a batch of {n} observations"
                )
            starts = starts.reshape(n)
        torch_state = self._initial_state(n)
        if state is not None and torch_state is not None:
            self._check_state(state, torch_state)
            torch_state = tuple(torch.as_tensor(s, device=self.device) for s in state)
        actions, torch_state = self._act(
            flat, torch_state, starts, 0.0 if deterministic else self.exploration_rate
        )
        actions = actions + int(self.action_space.start)
        out_state = None if torch_state is None else tuple(s.cpu().numpy() for s in torch_state)
        return (actions if batched else actions[0]), out_state

    @staticmethod
    def _check_state(state: tuple[np.ndarray, ...], expected: tuple[torch.Tensor, ...]) -> None:
        """Raise ``ValueError`` unless ``state`` has the shapes of ``expected`` (the initial
        state for the same batch) and finite values."""
        shapes = [tuple(np.shape(s)) for s in state]
        want = [tuple(e.shape) for e in expected]
        if shapes != want:
            raise ValueError(
                f"state must be {len(want)} arrays of shapes {want} (what predict returned "
                f"for this batch), got shapes {shapes}"
            )
        for s in state:
            if not np.isfinite(np.asarray(s, dtype=np.float64)).all():
                raise ValueError("state holds NaN or inf values")

    # ----------------------------------------------------------------- learning
    @property
    def logger(self) -> Logger:
        """The SB3 logger (stdout when ``verbose``, else silent, unless ``set_logger`` was used)."""
        if self._logger is None:
            formats: list[KVWriter] = [HumanOutputFormat(sys.stdout)] if self.verbose else []
            self._logger = Logger(folder=None, output_formats=formats)
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Use an SB3 logger, e.g. ``configure(run_dir, ["stdout", "csv", "tensorboard"])``."""
        self._logger = logger

    def _init_callback(self, callback: CallbackLike) -> BaseCallback:
        """SB3 callbacks: a ``BaseCallback``, a list of them, or ``f(locals, globals) -> bool``."""
        if isinstance(callback, list):
            callback = CallbackList(callback)
        elif callback is None or not isinstance(callback, BaseCallback):
            callback = ConvertCallback(callback)
        # SB3 annotates BaseAlgorithm; its callbacks read only what this class provides.
        callback.init_callback(self)  # type: ignore[arg-type]
        return callback

    def _reset_env(self) -> None:
        if self._env_seeded:
            seed = None  # the env's generators continue
        else:  # an unseeded agent still seeds its env (from its own generator), so that
            # a checkpoint can bring the env back by replaying its resets and actions
            seed = self.seed if self.seed is not None else int(self.rng.integers(2**31))
        env = self._training_env()
        n = env.num_envs
        if getattr(self, "_action_log", None) is None or self._action_log.n_envs != n:
            self._action_log = ActionLog(n)
        self._action_log.reset(seed)
        self._last_obs, _ = env.reset(seed=seed)
        self._env_seeded = True
        if self.replay_buffer is None or self.replay_buffer.n_envs != n:
            self.replay_buffer = self._make_replay_buffer(n)
        self._episode_start = np.ones(n, dtype=bool)
        self._autoreset = np.zeros(n, dtype=bool)
        self._act_state = self._initial_state(n)
        self._state_before: State = self._act_state
        self._ep_return = np.zeros(n)
        self._ep_length = np.zeros(n, dtype=np.int64)
        self.ep_info_buffer: deque[tuple[float, int]] = deque(maxlen=100)

    def _collect_step(self) -> int:
        """Act in every env once, store the step, return the number of real transitions."""
        flat, _ = flatten_observations(self.observation_space, self._last_obs)
        if self.obs_rms is not None:
            self.obs_rms.update(flat)
            self._sync_obs_stats()
        self._state_before = self._act_state
        actions, self._act_state = self._act(
            flat, self._act_state, self._episode_start, self.exploration_rate
        )
        env_actions = actions + int(self.action_space.start)
        self._action_log.step(env_actions)
        obs, rewards, terminated, truncated, _ = self._training_env().step(env_actions)
        valid = ~self._autoreset  # False where the env only resets (NEXT_STEP autoreset)
        self._store(flat, actions, rewards, terminated, truncated, valid)
        self._episode_start = self._autoreset
        self._autoreset = terminated | truncated
        self._last_obs = obs
        self._ep_return += np.where(valid, rewards, 0.0)
        self._ep_length += valid
        if self._autoreset.any():
            for i in np.flatnonzero(self._autoreset):
                self.ep_info_buffer.append((float(self._ep_return[i]), int(self._ep_length[i])))
            self._ep_return[self._autoreset] = 0.0
            self._ep_length[self._autoreset] = 0
        n_new = int(np.count_nonzero(valid))
        self.num_timesteps += n_new
        return n_new

    def _store(self, flat, actions, rewards, terminated, truncated, valid) -> None:
        """Write one vector step into ``self.replay_buffer`` (with the state for sequences)."""
        buffer = self._buffer()
        state, prev = None, None
        if self.recurrent:  # what the policy read with this observation: kept for replay
            before = self._state_before
            assert before is not None  # recurrent agents carry a state
            prev = np.where(self._episode_start, -1, before[-1].cpu().numpy())
            if buffer.wants_state():
                state = tuple(s.cpu().numpy() for s in before[: len(buffer.states)])
        buffer.add(
            flat, actions, rewards, terminated, truncated, self._episode_start, valid, state, prev
        )

    def _check_finite(self, loss: torch.Tensor) -> None:
        """Stop training with a ``FloatingPointError`` naming the env step if ``loss`` is NaN/inf.

        The kept best model (in memory and at ``best_model_path``) is left untouched.
        """
        if not torch.isfinite(loss).item():
            raise FloatingPointError(
                f"{type(self).__name__}: loss became {loss.item()} at env step "
                f"{self.num_timesteps} (update {self._n_updates}); training stopped. The kept "
                f"best model (step {self.best_step}) is unchanged: call restore_best()."
            )

    def learn(
        self,
        total_timesteps: int,
        callback: CallbackLike = None,
        log_interval: int = 10_000,
        progress_bar: bool = False,
        reset_num_timesteps: bool = True,
        best_model_path: str | os.PathLike | None = None,
        checkpoint_freq: int = 0,
        checkpoint_path: str | os.PathLike | None = None,
    ) -> BaseAgent:
        """Collect ``total_timesteps`` env steps (summed over vector envs) and train.

        ``callback``: an SB3 ``BaseCallback`` (or list), or ``f(locals, globals) -> bool``;
        returning False stops training. ``log_interval``: env steps between logger dumps.
        Every ``config.eval_freq`` steps the agent is evaluated on fresh seeds and the best
        model is kept (``restore_best()``; also saved to ``best_model_path`` if given); a
        last evaluation of the final policy is logged as ``eval/final_mean_reward``.
        Every ``checkpoint_freq`` steps the full training state is written to
        ``checkpoint_path`` (:meth:`save_training_state`); an agent loaded with
        :meth:`load_training_state` continues with ``learn(remaining_timesteps,
        reset_num_timesteps=False)`` exactly as the uninterrupted call would have (same
        schedules; on CPU with a seed, the same numbers).
        """
        with torch_threads(self.threads):
            return self._learn(
                total_timesteps,
                callback,
                log_interval,
                progress_bar,
                reset_num_timesteps,
                best_model_path,
                checkpoint_freq,
                checkpoint_path,
            )

    def _learn(
        self,
        total_timesteps: int,
        callback: CallbackLike,
        log_interval: int,
        progress_bar: bool,
        reset_num_timesteps: bool,
        best_model_path: str | os.PathLike | None,
        checkpoint_freq: int,
        checkpoint_path: str | os.PathLike | None,
    ) -> BaseAgent:
        self._training_env()
        if checkpoint_freq and checkpoint_path is None:
            raise ValueError("checkpoint_path must be given when checkpoint_freq > 0")
        if total_timesteps < 0:
            raise ValueError(f"total_timesteps must be >= 0, got {total_timesteps}")
        if reset_num_timesteps:
            self.num_timesteps = 0
        if reset_num_timesteps or self._last_obs is None:
            self._reset_env()
        start_steps = self.num_timesteps
        if reset_num_timesteps or start_steps + total_timesteps != self._total_timesteps:
            self._learn_start = start_steps  # a new schedule (else: continue an interrupted one)
        self._total_timesteps = start_steps + total_timesteps
        callback = self._init_callback(callback)
        callback.on_training_start(locals(), globals())
        bar = tqdm(  # a continued learn call shows the whole call's progress
            total=self._total_timesteps - self._learn_start,
            initial=start_steps - self._learn_start,
            unit="step",
            disable=not progress_bar,
        )
        t0, last_postfix = time.perf_counter(), 0.0
        eval_freq = self.config.eval_freq
        try:
            callback.on_rollout_start()
            while self.num_timesteps < self._total_timesteps:
                before = self.num_timesteps
                bar.update(self._collect_step())
                callback.update_locals(locals())
                if not callback.on_step():
                    break
                self._after_step(before)
                if self._should_evaluate(before):
                    self._evaluate_and_keep(best_model_path)
                if multiples_crossed(log_interval, before, self.num_timesteps):
                    self._dump_logs(t0, start_steps)
                if checkpoint_path is not None and multiples_crossed(
                    checkpoint_freq, before, self.num_timesteps
                ):
                    self.save_training_state(checkpoint_path)
                if progress_bar and time.perf_counter() - last_postfix > 0.5:
                    last_postfix = time.perf_counter()
                    bar.set_postfix(ret=f"{self._mean_episode_return():.1f}", refresh=False)
            callback.on_rollout_end()
        finally:
            bar.close()
        if eval_freq:
            if not self.eval_history or self.eval_history[-1][0] != self.num_timesteps:
                self._evaluate_and_keep(best_model_path)
            self.logger.record("eval/final_mean_reward", self.eval_history[-1][1])
            if self.config.eval_final_paired and self.best_step != self.num_timesteps:
                self._keep_better_of_final_and_kept(best_model_path)
        self._dump_logs(t0, start_steps)
        callback.on_training_end()
        return self

    def _mean_episode_return(self) -> float:
        if not self.ep_info_buffer:
            return float("nan")
        return float(np.mean([r for r, _ in self.ep_info_buffer]))

    def _dump_logs(self, t0: float, start_steps: int) -> None:
        elapsed = max(time.perf_counter() - t0, 1e-9)
        log = self.logger
        log.record("time/total_timesteps", self.num_timesteps)
        log.record("time/fps", int((self.num_timesteps - start_steps) / elapsed))
        log.record("time/time_elapsed", int(elapsed))
        log.record("train/n_updates", self._n_updates)
        log.record("rollout/exploration_rate", self.exploration_rate)
        if self.ep_info_buffer:
            log.record("rollout/ep_rew_mean", self._mean_episode_return())
            log.record("rollout/ep_len_mean", float(np.mean([n for _, n in self.ep_info_buffer])))
        log.dump(step=self.num_timesteps)

    # ----------------------------------------------------------------- evaluation
    def _should_evaluate(self, before: int) -> bool:
        """Whether ``learn`` evaluates after the vector step that began at env step ``before``
        (every ``eval_freq`` steps; batch agents evaluate right after a fit instead)."""
        return bool(multiples_crossed(self.config.eval_freq, before, self.num_timesteps))

    def _eval_factory(self) -> tuple[Callable[[], gym.Env], int]:
        """A factory of evaluation envs and how many may run in parallel."""
        source = self._eval_source
        if isinstance(source, gym.Env):
            return (lambda: source), 1
        if isinstance(source, str):
            return (lambda: gym.make(source)), 32
        if callable(source):
            return source, 32
        envs = getattr(self.env, "envs", None)  # SyncVectorEnv / AsyncVectorEnv-like
        spec = envs[0].spec if envs else getattr(self.env, "spec", None)
        if spec is None:
            raise ValueError(
                "cannot build an evaluation env: the training env has no spec; pass eval_env="
            )
        vector_keys = ("num_envs", "vectorization_mode", "vector_kwargs", "wrappers")
        kwargs = {k: v for k, v in spec.kwargs.items() if k not in vector_keys}
        return (lambda: gym.make(spec.id, **kwargs)), 32

    def evaluate(
        self, seeds: list[int] | np.ndarray, deterministic: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """One episode per seed on the evaluation env: (returns, lengths), each ``[len(seeds)]``."""
        make_env, max_par = self._eval_factory()
        n_par = min(len(seeds), max_par)
        if self._eval_vec is None or self._eval_vec.num_envs != n_par:
            self._eval_vec = make_eval_vector_env(make_env, n_par)
        return evaluate_episodes(self, make_env, seeds, deterministic, n_par, self._eval_vec)

    def _fresh_eval_seeds(self) -> np.ndarray:
        """``[n_eval_episodes]`` episode seeds that no evaluation used before."""
        n = self.config.n_eval_episodes
        seeds = self._eval_seed + self._n_evals * n + np.arange(n)
        self._n_evals += 1
        return seeds

    def _fresh_evaluation(self) -> np.ndarray:
        """Returns ``[n_eval_episodes]`` of one evaluation on fresh seeds."""
        return self.evaluate(self._fresh_eval_seeds())[0]

    def _keep_better_of_final_and_kept(self, best_model_path: str | os.PathLike | None) -> None:
        """``eval_final_paired``: the final and the kept model play the same fresh episodes; the
        better mean is kept. The agent is left holding the final model, as ``learn`` leaves it."""
        assert self._best_snapshot is not None  # learn's last evaluation keeps a model
        final = self._snapshot()
        seeds = self._fresh_eval_seeds()
        final_mean = float(self.evaluate(seeds)[0].mean())
        self._restore(self._best_snapshot)
        kept_mean = float(self.evaluate(seeds)[0].mean())
        self._restore(final)
        self.logger.record("eval/paired_final_mean_reward", final_mean)
        self.logger.record("eval/paired_kept_mean_reward", kept_mean)
        if final_mean > kept_mean:
            self._keep(final_mean, best_model_path)

    def _evaluate_and_keep(self, best_model_path: str | os.PathLike | None) -> tuple[float, float]:
        """Evaluate on fresh seeds; keep (and save) the model if it is the best so far (with
        ``eval_confirm``: if a second evaluation on fresh seeds says so too)."""
        returns = self._fresh_evaluation()
        mean, std = float(returns.mean()), float(returns.std())
        self.eval_history.append((self.num_timesteps, mean, std))
        score = mean
        if mean > self.best_mean_reward and self.config.eval_confirm:
            score = float(self._fresh_evaluation().mean())
            self.logger.record("eval/confirmed_mean_reward", score)
        if score > self.best_mean_reward:
            self._keep(score, best_model_path)
        self.logger.record("eval/mean_reward", mean)
        self.logger.record("eval/std_reward", std)
        self.logger.record("eval/best_mean_reward", self.best_mean_reward)
        return mean, std

    def _keep(self, score: float, best_model_path: str | os.PathLike | None) -> None:
        """Keep the model the agent holds now as the best, scored ``score`` (and save it)."""
        self.best_mean_reward, self.best_step = score, self.num_timesteps
        self._best_snapshot = self._snapshot()
        if best_model_path is not None:
            self.save(best_model_path)

    def _snapshot(self) -> dict[str, Any]:
        """Copies of everything ``predict`` depends on."""
        return {
            "modules": {k: copy.deepcopy(m.state_dict()) for k, m in self._modules().items()},
            "obs_rms": copy.deepcopy(self.obs_rms),
        }

    def restore_best(self) -> None:
        """Load the best model kept by periodic evaluation (a ``ValueError`` if there is none)."""
        if self._best_snapshot is None:
            raise ValueError("no model kept yet: set eval_freq > 0 and call learn")
        self._restore(self._best_snapshot)

    def _restore(self, snapshot: dict[str, Any]) -> None:
        for name, module in self._modules().items():
            module.load_state_dict(snapshot["modules"][name])
        self.obs_rms = copy.deepcopy(snapshot["obs_rms"])
        self._sync_obs_stats()

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write one zip (``config.json`` + ``weights.pt``) atomically (temp file + rename)."""
        path = Path(path)
        if path.suffix != ".zip":
            path = path.with_suffix(path.suffix + ".zip")
        meta = {
            "agent": type(self).__name__,
            "format_version": FORMAT_VERSION,
            "config": asdict(self.config),
            "observation_space": describe_space(self.observation_space),
            "action_space": describe_space(self.action_space),
            "num_timesteps": self.num_timesteps,
            "best_mean_reward": self.best_mean_reward,
            "versions": {"torch": torch.__version__, "gymnasium": gym.__version__},
        }
        rms = None
        if self.obs_rms is not None:
            rms = {
                "mean": torch.as_tensor(self.obs_rms.mean),
                "var": torch.as_tensor(self.obs_rms.var),
                "count": float(self.obs_rms.count),
            }
        weights = io.BytesIO()
        torch.save(
            {"modules": {k: m.state_dict() for k, m in self._modules().items()}, "obs_rms": rms},
            weights,
        )
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("config.json", json.dumps(meta, indent=1))
            zf.writestr("weights.pt", weights.getvalue())
        write_atomic(path, archive.getvalue())

    # Rebuilt, not saved, in a training state: the env and loggers (made afresh), what the
    # constructor derives from the config and spaces, and caches of the module weights.
    _TRANSIENT: ClassVar[tuple[str, ...]] = (
        "env",
        "threads",
        "_logger",
        "_eval_vec",
        "_eval_source",
        "config",
        "device",
        "verbose",
        "observation_space",
        "action_space",
        "obs_dim",
        "n_actions",
        "_obs_norm",
        "_numpy_q",
    )

    @property
    def remaining_timesteps(self) -> int:
        """Env steps the current (or interrupted) ``learn`` call has still to collect."""
        return max(self._total_timesteps - self.num_timesteps, 0)

    def save_training_state(self, path: str | os.PathLike) -> None:
        """Write everything ``learn`` needs to continue exactly, atomically, as tensors and
        plain data (loadable with ``torch.load(weights_only=True)``): modules, optimiser,
        replay buffer, counters, schedules, evaluation history, every random generator, and
        the training env's reset seeds and actions (:mod:`~stateful_rl.agents.env_replay`).
        """
        attributes: dict[str, Any] = {}
        for name, value in vars(self).items():
            if name in self._TRANSIENT:
                continue
            if isinstance(value, nn.Module | torch.optim.Optimizer):
                attributes[name] = {"__module__": value.state_dict()}
            else:
                attributes[name] = encode(value, name)
        state = {
            "format": TRAINING_STATE_FORMAT,
            "format_version": FORMAT_VERSION,
            "agent": type(self).__name__,
            "config": asdict(self.config),
            "observation_space": describe_space(self.observation_space),
            "action_space": describe_space(self.action_space),
            "attributes": attributes,
            "rng": global_rng_state(),
        }
        data = io.BytesIO()
        torch.save(state, data)
        write_atomic(path, data.getvalue())

    @classmethod
    def load_training_state(
        cls,
        path: str | os.PathLike,
        env: EnvLike,
        device: torch.device | str = "auto",
        **kwargs: Any,
    ) -> BaseAgent:
        """The agent that :meth:`save_training_state` wrote, training on ``env`` (built as the
        training env was, e.g. from the same id, kwargs and ``n_envs``: it is reset with the
        recorded seeds and sent the recorded actions to come back to the same state), global
        generators restored; continue with ``learn(agent.remaining_timesteps,
        reset_num_timesteps=False)``. ``kwargs`` go to the constructor (``verbose``,
        ``eval_env``, ...). Files holding anything but tensors and plain data are refused.
        """
        path = Path(path)
        state = load_tensors(path, f"training state {path}")
        if not isinstance(state, dict) or state.get("format") != TRAINING_STATE_FORMAT:
            raise UnsafeFileError(f"{path} is not a stateful-rl training state")
        if state.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path} has training-state format {state.get('format_version')!r}; this "
                f"version reads format {FORMAT_VERSION}"
            )
        agent = cls._from_description(state, f"{path}", env, device, **kwargs)
        for name, value in state["attributes"].items():
            current = getattr(agent, name, None)
            if isinstance(current, nn.Module | torch.optim.Optimizer):
                current.load_state_dict(value["__module__"])
            elif isinstance(value, dict) and "__module__" in value:
                raise UnsafeFileError(f"{path}: {name} holds weights but the agent has no module")
            else:
                setattr(agent, name, decode(value, name))
        agent._sync_obs_stats()
        set_global_rng_state(state["rng"])
        last_obs = agent._action_log.replay(agent._training_env())
        if not np.array_equal(np.asarray(last_obs), np.asarray(agent._last_obs)):
            raise ValueError(
                f"{path}: the rebuilt training env did not come back to the saved observation "
                "after replaying its seeds and actions: build it as the training env was "
                "(same id, kwargs and number of envs), and make sure it is deterministic"
            )
        return agent

    @classmethod
    def _from_description(
        cls,
        meta: dict[str, Any],
        what: str,
        env: EnvLike | None,
        device: torch.device | str,
        **kwargs: Any,
    ) -> BaseAgent:
        """A new agent of the class, config and spaces ``meta`` describes, checked against
        ``env`` (if given): the shared part of :meth:`load` and :meth:`load_training_state`."""
        if meta.get("agent") != cls.__name__:
            raise ValueError(f"{what} holds a {meta.get('agent')}, not a {cls.__name__}")
        try:
            obs_space = space_from_description(meta["observation_space"])
            act_space = space_from_description(meta["action_space"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{what}: unreadable spaces ({error})") from None
        if env is not None:
            env = cls._wrap_env(env)
            check_same_space(obs_space, env.single_observation_space, f"{what}: observation space")
            check_same_space(act_space, env.single_action_space, f"{what}: action space")
        try:
            return cls(
                env,
                meta["config"],
                device=device,
                observation_space=obs_space,
                action_space=act_space,
                **kwargs,
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"{what}: unreadable config ({error})") from None

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        env: EnvLike | None = None,
        device: torch.device | str = "auto",
        **kwargs: Any,
    ) -> BaseAgent:
        """Load a saved agent; ``env`` (optional) must have the saved spaces (type, shape,
        bounds and dtype). ``kwargs`` go to the constructor (e.g. ``seed``, ``verbose``,
        ``eval_env``). A file that is not a model this library saved (other members, a
        different format version, weights that are not plain tensors or not finite, or an
        archive that would expand beyond its limit) is refused with a ``ValueError``.
        """
        path = Path(path)
        if not path.exists() and path.with_suffix(path.suffix + ".zip").exists():
            path = path.with_suffix(path.suffix + ".zip")
        check_archive(path, f"model {path}")
        with zipfile.ZipFile(path) as zf:
            names = sorted(zf.namelist())
            if names != ["config.json", "weights.pt"]:
                raise UnsafeFileError(
                    f"{path} holds {names}; a saved model holds config.json and weights.pt"
                )
            try:
                meta = json.loads(zf.read("config.json"))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise UnsafeFileError(f"{path}: config.json is not JSON ({error})") from None
            weights = load_tensors(zf.read("weights.pt"), f"{path}: weights.pt")
        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
            found = meta.get("format_version") if isinstance(meta, dict) else meta
            raise ValueError(
                f"{path} has model format {found!r}; this version reads format {FORMAT_VERSION}"
            )
        agent = cls._from_description(meta, str(path), env, device, **kwargs)
        try:
            modules, rms = weights["modules"], weights["obs_rms"]
            for name, tensors in modules.items():
                check_finite_tensors(tensors, f"{path}: {name}")
            obs_rms = agent.obs_rms
            if rms is not None:
                if obs_rms is None:
                    raise AttributeError("the agent does not normalise observations")
                check_finite_tensors(
                    {"obs_rms.mean": rms["mean"], "obs_rms.var": rms["var"]}, str(path)
                )
                obs_rms.mean = rms["mean"].numpy()
                obs_rms.var = rms["var"].numpy()
                obs_rms.count = rms["count"]
            agent._restore({"modules": modules, "obs_rms": obs_rms})
        except (KeyError, TypeError, AttributeError, RuntimeError) as error:
            raise ValueError(f"{path}: weights do not fit the agent ({error})") from None
        agent.num_timesteps = int(meta.get("num_timesteps", 0))
        return agent
