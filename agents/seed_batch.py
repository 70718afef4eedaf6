"""Many seeds at once: independent agents trained in one process as one batched computation.

Every result needs several seeds. :func:`train_seeds` trains one agent per seed so that the
seeds' updates are computed together: parameters and optimiser state stacked ``[S, ...]``,
one batched forward, backward and optimiser step per update for all ``S`` seeds, where
``S`` runs one after another pay the per-call cost of small products ``S`` times.
:func:`run_together` is the general form: one task per seed (e.g. the command line's
"build, learn, save, evaluate" of one run directory).

How: each task runs in a thread of its own, and exactly one runs at any moment, in task
order, each with its own state of the global random generators. Every seed therefore runs
the single-agent code unchanged, with its own env, replay buffer, generators, schedules,
evaluations, logs, checkpoints and saves. An agent that reaches a training step hands what
it sampled to :meth:`Seat.hand_over` and waits; when every task waits or is done, the
waiting work is computed together (grouped by kind and shape) and each task continues with
its own result. Threads are used as coroutines because the hand-over happens deep inside
``learn``: a thread gives each task a stack of its own.

Exactness: the batched computations are written so that each seed's slice is computed as
the seed's own modules compute it (:class:`~stateful_rl.encoders.feedforward.StackedMLP`,
:class:`~stateful_rl.agents.optim.StackedClippedAdam`); on CPU a seed trained with others
equals the seed trained alone, bit for bit, where its tests say so.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

T = TypeVar("T")
Compute = Callable[[list[Any]], list[Any]]

_current = threading.local()


def current_seat() -> Seat | None:
    """The seat of the task running in this thread (None outside :func:`run_together`)."""
    return getattr(_current, "seat", None)


def generator_states() -> tuple[Any, ...]:
    """The states of the global generators an agent may draw from (python, numpy, torch)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda  # noqa: NPY002


def set_generator_states(state: tuple[Any, ...]) -> None:
    """Restore what :func:`generator_states` returned."""
    python, numpy_state, torch_state, cuda = state
    random.setstate(python)
    np.random.set_state(numpy_state)  # noqa: NPY002
    torch.set_rng_state(torch_state)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


class _Failure:
    """A batched computation's error, raised in each task that handed work to it."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Seat:
    """One task of :func:`run_together`: its thread, its generator states and its hand-over."""

    def __init__(self, index: int, task: Callable[[], Any], back: threading.Semaphore) -> None:
        self.index = index
        self.task = task
        self.back = back  # released when this task waits or ends: the coordinator goes on
        self.resume = threading.Semaphore(0)
        self.work: tuple[Compute, Hashable, Any] | None = None
        self.result: Any = None
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = False
        self.generators: tuple[Any, ...] = ()
        self.thread = threading.Thread(target=self._run, name=f"seed-task-{index}", daemon=True)

    def _run(self) -> None:
        self.resume.acquire()
        _current.seat = self
        try:
            self.value = self.task()
        except BaseException as error:  # re-raised by run_together once every task is done
            self.error = error
        finally:
            self.done = True
            self.back.release()

    def hand_over(self, compute: Compute, key: Hashable, payload: Any) -> Any:
        """Wait until ``compute`` has run on ``payload`` together with the payloads that the
        other tasks hand over with the same ``compute`` and ``key`` (in task order); return
        this payload's result (``compute`` returns one result per payload)."""
        self.work = (compute, key, payload)
        self.back.release()
        self.resume.acquire()
        result, self.result = self.result, None
        if isinstance(result, _Failure):
            raise result.error
        return result


def run_together(tasks: Sequence[Callable[[], T]], progress: Callable[[], None] | None = None,
                 generators: Sequence[tuple[Any, ...]] | None = None) -> list[T]:  # fmt: skip
    """Run ``tasks`` (one per seed) so that the training work they hand over is computed
    together (see the module docstring); their return values, in order.

    Each task starts with the caller's global generator states (or ``generators[i]``, as
    :func:`generator_states` returns them) and keeps its own. ``progress`` is called after
    each round (every task has run to its next hand-over). If tasks raise, the others still
    run to their end, then the first task's error (in task order) is raised. The caller's
    global generators are restored at the end.
    """
    if current_seat() is not None:
        raise RuntimeError("run_together cannot be nested inside one of its tasks")
    if not tasks:
        raise ValueError("run_together needs at least one task")
    caller = generator_states()
    back = threading.Semaphore(0)
    seats = [Seat(i, task, back) for i, task in enumerate(tasks)]
    for i, seat in enumerate(seats):
        seat.generators = caller if generators is None else generators[i]
        seat.thread.start()
    try:
        running = seats
        while running:
            for seat in running:  # each task runs to its next hand-over or to its end
                set_generator_states(seat.generators)
                seat.resume.release()
                back.acquire()
                seat.generators = generator_states()
            running = [seat for seat in running if not seat.done]
            if progress is not None:
                progress()
            groups: dict[tuple[Compute, Hashable], list[tuple[Seat, Any]]] = {}
            for seat in running:
                assert seat.work is not None  # a task not done waits in hand_over with work
                compute, key, payload = seat.work
                groups.setdefault((compute, key), []).append((seat, payload))
            for (compute, _), members in groups.items():
                try:
                    results = compute([payload for _, payload in members])
                except Exception as error:  # raised in each task that handed work to it
                    results = [_Failure(error)] * len(members)
                for (seat, _), result in zip(members, results, strict=True):
                    seat.result, seat.work = result, None
    finally:
        set_generator_states(caller)
    for seat in seats:
        seat.thread.join()
    for seat in seats:
        if seat.error is not None:
            raise seat.error
    return [seat.value for seat in seats]


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """``seeds`` as a list of distinct ints (at least one), or a ``ValueError``."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed (n_seeds >= 1), got none")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise ValueError(f"seeds must be ints, got {seed!r}")
    duplicates = sorted({int(s) for s in seeds if seeds.count(s) > 1})
    if duplicates:
        raise ValueError(f"seeds must be distinct, got {duplicates} more than once")
    return [int(s) for s in seeds]


def train_seeds(
    make_agent: Callable[[int], Any],
    seeds: Sequence[int],
    total_timesteps: int,
    **learn_kwargs: Any,
) -> list[Any]:
    """Train ``make_agent(seed)`` for each seed with one batched update per step of all
    seeds; the trained agents, in seed order. ``learn_kwargs`` go to every ``learn``.

    ``make_agent`` builds a new agent with its own env (an env id, or a new env made in
    the call), e.g. ``lambda seed: DQN("CartPole-v1", seed=seed, learning_rate=2.3e-3)``.
    The agents are built first, one after another as they would be alone; a class that
    cannot train batched, seeds that repeat or agents that share an env raise a
    ``ValueError`` before any training.
    """
    seeds = check_seeds(seeds)
    shared = sorted({"best_model_path", "checkpoint_path"} & set(learn_kwargs))
    if shared:
        raise ValueError(
            f"train_seeds would give every seed the same {shared}: call run_together with "
            "one task per seed to give each its own paths"
        )
    agents: list[Any] = []
    generators: list[tuple[Any, ...]] = []
    caller = generator_states()
    try:
        for seed in seeds:
            agent = make_agent(seed)
            if agent.seed != seed:
                raise ValueError(f"make_agent({seed}) returned an agent with seed {agent.seed}")
            reason = agent.seed_batch_error()
            if reason is not None:
                raise ValueError(f"{type(agent).__name__} cannot train seeds together: {reason}")
            if agent.env is None:
                raise ValueError(f"make_agent({seed}) returned an agent without an env")
            if any(_envs(agent) & _envs(other) for other in agents):
                raise ValueError(
                    f"make_agent({seed}) returned an agent whose env another seed uses: each "
                    "seed needs its own env (pass an env id or build the env inside make_agent)"
                )
            agents.append(agent)
            generators.append(generator_states())
    finally:
        set_generator_states(caller)
    tasks = [lambda agent=agent: agent.learn(total_timesteps, **learn_kwargs) for agent in agents]
    run_together(tasks, generators=generators)
    return agents


def _envs(agent: Any) -> set[int]:
    """Ids of the envs an agent steps (a vector env's own envs, where it has them)."""
    return {id(agent.env), *(id(env) for env in getattr(agent.env, "envs", ()))}
