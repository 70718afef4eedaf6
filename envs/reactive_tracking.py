"""The best memoryless references of OccludedTracking: reactive controllers tuned by CMA-ES.

A reactive controller sees only the current observation (tracker position, seen target,
visibility flag). This family acts per axis (the same parameters on both axes in 2-D):

* visible: move greedily toward ``seen + lead * (seen - tracker)``: chase the target,
  ``lead`` ahead of it along the direction in which the tracker lags (the lag is the one
  trace of the target's velocity that a single observation holds);
* hidden: drift at speed ``u(tracker)`` (in tracker steps per step, piecewise linear
  through ``KNOTS`` equally spaced knots on ``[-1, 1]``), by moving with probability
  ``|u|``: a deterministic policy can only move at full speed or stay, and the best drift
  of a target that spreads while unseen is often slower. ``u = 0`` is the naive rule.

The parameters are found by CMA-ES (Hansen & Ostermeier 2001; the ``cma`` package) on the
mean return of ``TRAIN_EPISODES`` fixed training episodes (seeds from ``TRAIN_SEED``,
disjoint from the evaluation seeds; the same episodes and drift random numbers for every
candidate), the whole population stepped in one native vector env. The results for the
configurations in the reference table are stored in ``data/reactive_tracking.json``
(written by ``python -m stateful_rl.report.reference_table --fit-controllers``); another
configuration is optimised when first asked for (seeded; about a minute) and cached in the
process. The family is a lower bound on the best memoryless policy: a trained feed-forward
agent is the other candidate for the zero of the memory score.

``deterministic=True`` replaces the drift's draws by 1/2 (move at full speed where
``|u| >= 1/2``, else stay): the best *deterministic* member of the family, what an arg-max
policy can at most do with this structure (while the target is hidden the observation does
not change unless the tracker moves, so a deterministic reactive policy either stays put or
moves at full speed).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import gymnasium as gym
import numpy as np
from numpy.typing import ArrayLike, NDArray

from stateful_rl.envs.steering import greedy_actions
from stateful_rl.envs.tracking import OccludedTrackingVectorEnv, TrackingTask

KNOTS = 5  # knots of the hidden-phase goal g on [-1, 1]
TRAIN_EPISODES = 256  # fixed training episodes per candidate
TRAIN_SEED = 900_000  # first training seed (evaluations use other seeds)
GENERATIONS = 30
SIGMA0 = 0.3
STORE = Path(__file__).parent / "data" / "reactive_tracking.json"


def initial_params() -> NDArray[np.float64]:
    """Start of the search: no lead; no drift while hidden (the naive rule)."""
    return np.zeros(1 + KNOTS)


def reactive_actions(
    task: TrackingTask, params: NDArray, obs: NDArray, uniform: NDArray
) -> NDArray[np.int64]:
    """``[B]`` actions of controllers ``params[B, 1 + KNOTS]`` (one row per sequence) on
    ``obs[B, 2 dim + 1]``; ``uniform[B, dim]`` are the U(0, 1) draws of the drift."""
    tracker, seen, visible = task.split_obs(obs)
    lead, knot_values = params[:, :1], params[:, 1:]
    chase = greedy_actions(task.moves, tracker, seen + lead * (seen - tracker))
    # Drift speed u(tracker) per axis, piecewise linear through equally spaced knots, in
    # tracker steps per step: move with probability |u| (|u| >= 1: every step).
    spacing = 2.0 / (KNOTS - 1)
    cell = np.clip(np.floor((tracker + 1.0) / spacing), 0, KNOTS - 2).astype(np.int64)
    frac = (tracker + 1.0) / spacing - cell
    low = np.take_along_axis(knot_values, cell, axis=1)
    high = np.take_along_axis(knot_values, cell + 1, axis=1)
    speed = low + frac * (high - low)
    step = np.sign(speed) * (uniform < np.abs(speed))  # [B, dim] in {-1, 0, 1}
    # The 2-D actions move one axis: the drift takes the axis with the larger speed.
    if task.dim == 2:
        axis = np.abs(speed).argmax(axis=1)
        step = step * (np.arange(2)[None, :] == axis[:, None])
    drift = greedy_actions(task.moves, tracker, tracker + step * task.moves.max())
    return np.where(visible, chase, drift)


def reactive_returns(
    task: TrackingTask, params: NDArray, episodes: int, seed: int, deterministic: bool = False
) -> NDArray[np.float64]:
    """``[len(params), episodes]`` returns of each controller on the same seeded episodes
    (the drift's random numbers are the same for every controller too; all 1/2 when
    ``deterministic``)."""
    params = np.atleast_2d(params)
    count = len(params)
    env = OccludedTrackingVectorEnv(count * episodes, **task_kwargs(task))
    # Candidate i runs on sub-envs i*episodes .. (i+1)*episodes - 1, all seeded alike.
    obs, _ = env.reset(seed=[seed + k for k in range(episodes)] * count)
    per_env = np.repeat(params, episodes, axis=0)
    rng = np.random.default_rng(seed)
    returns = np.zeros(count * episodes)
    half = np.full((count * episodes, task.dim), 0.5)
    for _ in range(env.max_episode_steps):
        uniform = half if deterministic else np.tile(rng.random((episodes, task.dim)), (count, 1))
        obs, reward, _, _, _ = env.step(reactive_actions(task, per_env, obs, uniform))
        returns += reward
    env.close()
    return returns.reshape(count, episodes)


def task_kwargs(task: TrackingTask) -> dict:
    """The keyword arguments that rebuild ``task``."""
    return {name: getattr(task, name) for name in task.__dataclass_fields__}


def task_key(task: TrackingTask) -> str:
    """The task's arguments as canonical JSON (the key of the stored parameters)."""
    return json.dumps(task_kwargs(task), sort_keys=True)


def optimise_reactive_params(
    task: TrackingTask,
    generations: int = GENERATIONS,
    train_episodes: int = TRAIN_EPISODES,
    deterministic: bool = False,
) -> NDArray[np.float64]:
    """CMA-ES optimum ``[1 + KNOTS]`` of the controller family on ``task`` (seeded)."""
    import cma

    rng = np.random.default_rng(0)
    options = {
        "seed": math.nan,  # cma must not reseed numpy's global generator
        "randn": lambda *shape: rng.standard_normal(shape),
        "maxiter": generations,
        "verbose": -9,
    }
    strategy = cma.CMAEvolutionStrategy(initial_params(), SIGMA0, options)
    while not strategy.stop():
        candidates = np.array(strategy.ask())
        returns = reactive_returns(task, candidates, train_episodes, TRAIN_SEED, deterministic)
        strategy.tell(list(candidates), list(-returns.mean(axis=1)))
    return np.asarray(strategy.result.xbest)


def stored_params() -> dict[str, list[float]]:
    """``{task_key: parameters}`` of the stored optimisations."""
    return json.loads(STORE.read_text()) if STORE.is_file() else {}


def store_reactive_params(tasks: list[TrackingTask]) -> None:
    """Optimise the controllers of ``tasks`` and store them (the others are kept)."""
    table = stored_params()
    for task in tasks:
        table[task_key(task)] = [round(float(x), 6) for x in optimise_reactive_params(task)]
    STORE.parent.mkdir(exist_ok=True)
    STORE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")


@lru_cache(maxsize=32)
def best_reactive_params(task: TrackingTask) -> NDArray[np.float64]:
    """The tuned controller of ``task``: stored, else optimised now (and cached)."""
    params: ArrayLike | None = stored_params().get(task_key(task))
    if params is None:
        gym.logger.warn(f"no stored reactive controller for {task}: optimising it now")
        params = optimise_reactive_params(task)
    best = np.asarray(params, dtype=float)
    best.setflags(write=False)
    return best
