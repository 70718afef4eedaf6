"""Print the reference-policy table of the occluded environments (the memory scale).

For each env (OccludedCatch and OccludedTracking v0 and v1, and the tracking variants
dim=2, oscillator, random_accel, occluders="both"): mean ± standard error of the episode
return of ``random``, ``naive_memoryless``, ``best_memoryless``, ``bayes`` (labelled with
the filter it uses) and ``oracle`` over the same seeded episodes, and the gap ratio
``(R_bayes - R_best_memoryless) / (R_bayes - R_random)`` (the v1 envs need >= 0.5).

    python -m stateful_rl.report.reference_table --episodes 1000
    python -m stateful_rl.report.reference_table --fit-controllers   # refresh the stored
    python -m stateful_rl.report.reference_table --particle-study    # N of the filter
    python -m stateful_rl.report.reference_table --catch-checks      # exact catch values
    python -m stateful_rl.report.reference_table --steering-study    # steering rules
    python -m stateful_rl.report.reference_table --tracking-checks   # arg-max ceiling
"""

from __future__ import annotations

import argparse
import math
import time

import gymnasium as gym
import numpy as np

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.envs import reference_policies
from stateful_rl.envs.catch import CatchTask
from stateful_rl.envs.catch_references import (
    CatchModel,
    CatchPlanner,
    best_reactive_table,
    best_visible_part,
)
from stateful_rl.envs.reactive_tracking import (
    best_reactive_params,
    optimise_reactive_params,
    reactive_returns,
    store_reactive_params,
)
from stateful_rl.envs.reference_policies import POLICIES, episode_returns, gap_ratio
from stateful_rl.envs.tracking import TrackingTask
from stateful_rl.report.results import add_results_arguments, write_results

TRACKING_VARIANTS = [
    ("", {}),
    (" dim=2", {"dim": 2}),
    (" oscillator", {"dynamics": "oscillator"}),
    (" random_accel", {"dynamics": "random_accel"}),
    (' occluders="both"', {"occluders": "both"}),
]
ENVS = [(f"OccludedCatch-{v}", f"stateful_rl/OccludedCatch-{v}", {}) for v in ("v0", "v1")] + [
    (f"OccludedTracking-{v}{label}", f"stateful_rl/OccludedTracking-{v}", kwargs)
    for v in ("v0", "v1")
    for label, kwargs in TRACKING_VARIANTS
]


def task_of(env_id: str, kwargs: dict) -> object:
    env = gym.make(env_id, **kwargs)
    task = env.unwrapped.task
    env.close()
    return task


def reference_table(episodes: int, seed: int) -> str:
    """The markdown table of every env in ``ENVS``."""
    lines = [
        "| env | " + " | ".join(POLICIES) + " | Bayes reference | gap ratio |",
        "|---|" + "---:|" * len(POLICIES) + "---|---:|",
    ]
    for label, env_id, kwargs in ENVS:
        mean = {}
        cells = []
        for name in POLICIES:
            returns = episode_returns(env_id, name, episodes, seed, **kwargs)
            mean[name] = returns.mean()
            cells.append(f"{returns.mean():.3f} ± {returns.std() / math.sqrt(episodes):.3f}")
        ratio = gap_ratio(mean["random"], mean["best_memoryless"], mean["bayes"])
        bayes = reference_policies.reference_label(task_of(env_id, kwargs), "bayes")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {bayes} | {ratio:.3f} |")
    return "\n".join(lines)


def particle_study(episodes: int, seed: int, sizes: list[int]) -> str:
    """Return of the particle-filter policy as N doubles, on the same episodes (paired
    differences), and its CPU time, for every tracking env that uses the particle filter."""
    lines = [
        "| env | N | mean ± s.e. | change from N/2 (± s.e.) | CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    default = reference_policies.N_PARTICLES
    for label, env_id, kwargs in ENVS:
        task = task_of(env_id, kwargs)
        if isinstance(task, CatchTask) or reference_policies.kalman_is_exact(task):
            continue
        previous = None
        for n in sizes:
            reference_policies.N_PARTICLES = n
            start = time.process_time()
            returns = episode_returns(env_id, "bayes", episodes, seed, **kwargs)
            cpu = time.process_time() - start
            change = ""
            if previous is not None:
                diff = returns - previous
                change = (
                    f"{100 * diff.mean() / abs(previous.mean()):+.2f} % "
                    f"(± {100 * diff.std() / math.sqrt(episodes) / abs(previous.mean()):.2f})"
                )
            mean = f"{returns.mean():.3f} ± {returns.std() / math.sqrt(episodes):.3f}"
            lines.append(f"| {label} | {n} | {mean} | {change} | {cpu:.1f} |")
            previous = returns
    reference_policies.N_PARTICLES = default
    return "\n".join(lines)


class MeanSteering(reference_policies.TrackingBayesPolicy):
    """The particle posterior, but steering toward its mean instead of the least expected
    distance."""

    def _act(self, obs, info, episode_start):
        tracker = self.task.split_obs(obs)[0]
        self._filter(obs, episode_start)
        goal = self.particles.mean()[:, : self.task.dim]
        return reference_policies.greedy_actions(self.moves, tracker, goal)


class LookaheadSteering(reference_policies.TrackingBayesPolicy):
    """Two-step open-loop lookahead: the first move of the pair of moves with the least
    summed expected distance over the next two steps (the second step's prediction made
    without the next observation)."""

    def _act(self, obs, info, episode_start):
        tracker = self.task.split_obs(obs)[0]
        self._filter(obs, episode_start)
        particles, batch, n_moves = self.particles, len(obs), len(self.moves)
        first = np.clip(tracker[:, None, :] + self.moves[None], -1.0, 1.0)  # [B, A, dim]
        cost = particles.expected_distance(tracker, first - tracker[:, None, :])
        saved = particles.pos, particles.vel, particles.remaining
        particles.predict()
        second = np.clip(first[:, :, None, :] + self.moves[None, None], -1.0, 1.0)
        steps = (second - tracker[:, None, None, :]).reshape(batch, -1, self.task.dim)
        later = particles.expected_distance(tracker, steps).reshape(batch, n_moves, n_moves)
        particles.pos, particles.vel, particles.remaining = saved
        return np.argmin(cost + later.min(axis=2), axis=1)


def steering_study(episodes: int, seed: int) -> str:
    """Return of the particle posterior under three steering rules, and the oracle's, on
    the same episodes of OccludedTracking-v1 (defaults and dim=2)."""
    rules = {
        "least expected distance (bayes)": reference_policies.TrackingBayesPolicy,
        "posterior mean": MeanSteering,
        "two-step lookahead": LookaheadSteering,
    }
    lines = ["| env | " + " | ".join(rules) + " | oracle |", "|---|" + "---:|" * 4]
    for label, kwargs in (("OccludedTracking-v1", {}), ("OccludedTracking-v1 dim=2", {"dim": 2})):
        env_id = "stateful_rl/OccludedTracking-v1"
        cells = []
        for rule in rules.values():
            reference_policies.POLICY_CLASSES["bayes"][TrackingTask] = rule
            returns = episode_returns(env_id, "bayes", episodes, seed, **kwargs)
            cells.append(f"{returns.mean():.3f} ± {returns.std() / math.sqrt(episodes):.3f}")
        reference_policies.POLICY_CLASSES["bayes"][TrackingTask] = rules[next(iter(rules))]
        oracle = episode_returns(env_id, "oracle", episodes, seed, **kwargs)
        cells.append(f"{oracle.mean():.3f} ± {oracle.std() / math.sqrt(episodes):.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stochastic_hidden_search(task: CatchTask, restarts: int, generations: int) -> float:
    """Best expected return found over *stochastic* reactive tables (CMA-ES over the
    hidden-phase action probabilities; for each, the best visible part by the exact 0-1
    program, which is optimal there: each visible observation is met at most once, so
    the return is linear in its action probabilities)."""
    import cma

    model = CatchModel(task)
    c, v = task.columns, task.visible_rows
    hidden_steps = task.rows - 1 - v
    launches = len(model.paths)

    def catches(logits: np.ndarray) -> float:
        probs = np.exp(logits.reshape(c, 3))
        probs /= probs.sum(axis=1, keepdims=True)
        step = np.zeros((c, c))
        for action in range(3):
            np.add.at(step, (np.arange(c), model.move(np.arange(c), action, v)), probs[:, action])
        return best_visible_part(model, np.linalg.matrix_power(step, hidden_steps))[0]

    rng = np.random.default_rng(0)
    table = best_reactive_table(task)[0]
    starts = [8.0 * (np.eye(3)[table[:c]] - 0.5).ravel()]  # the deterministic optimum
    starts += [rng.normal(0, 1, 3 * c) for _ in range(restarts - 1)]
    best = -np.inf
    for x0 in starts:
        options = {"seed": math.nan, "randn": lambda *s: rng.standard_normal(s)}
        result = cma.fmin(
            lambda x: -catches(x), x0, 1.0, {**options, "maxiter": generations, "verbose": -9}
        )
        best = max(best, -result[1])
    return (2 * best - launches) / launches


def catch_checks(restarts: int, generations: int) -> str:
    """Exact values of the catch references and the stochastic-table check."""
    lines = [
        "| env | Bayes (exact DP) | best deterministic reactive (exact) | best stochastic "
        "reactive found | solve s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, kwargs in (("OccludedCatch-v0", {"hold_paddle": False}), ("OccludedCatch-v1", {})):
        task = CatchTask(**kwargs)
        start = time.process_time()
        value = best_reactive_table(task)[1]
        solve = time.process_time() - start
        bayes = CatchPlanner(CatchModel(task)).expected_return()
        stochastic = stochastic_hidden_search(task, restarts, generations)
        lines.append(f"| {name} | {bayes:.4f} | {value:.4f} | {stochastic:.4f} | {solve:.2f} |")
    return "\n".join(lines)


def tracking_checks(episodes: int, seed: int) -> str:
    """The stored (stochastic) reactive controller against the best deterministic member of
    its family (CMA-ES, drift draws fixed at 1/2) on the same episodes, each as the share
    of the way from random to the stochastic one: what an arg-max policy can reach."""
    lines = [
        "| env | random | best stochastic reactive | best deterministic reactive (CMA-ES) "
        "| deterministic: share of the way from random |",
        "|---|---:|---:|---:|---:|",
    ]
    for v in ("v0", "v1"):
        env_id = f"stateful_rl/OccludedTracking-{v}"
        task = task_of(env_id, {})
        rand = episode_returns(env_id, "random", episodes, seed).mean()
        stochastic = reactive_returns(task, best_reactive_params(task), episodes, seed).mean()
        params = optimise_reactive_params(task, deterministic=True)
        determ = reactive_returns(task, params, episodes, seed, deterministic=True).mean()
        share = (determ - rand) / (stochastic - rand)
        lines.append(f"| {env_id.split('/')[1]} | {rand:.2f} | {stochastic:.2f} | "
                     f"{determ:.2f} | {share:.0%} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=1000, help="episodes per policy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fit-controllers",
        action="store_true",
        help="optimise the best memoryless tracking controllers of the table and store them",
    )
    parser.add_argument("--particle-study", action="store_true", help="N doubling study")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--catch-checks", action="store_true", help="exact catch values")
    parser.add_argument("--steering-study", action="store_true", help="steering rules")
    parser.add_argument(
        "--tracking-checks", action="store_true", help="deterministic vs stochastic reactive"
    )
    add_results_arguments(parser)
    args = parser.parse_args()
    if args.fit_controllers:
        tasks = [task_of(env_id, kw) for _, env_id, kw in ENVS if "Tracking" in env_id]
        store_reactive_params(tasks)
        print(f"stored the controllers of {len(tasks)} tracking configurations")
        return
    if args.particle_study:
        key, title = "particle-study", "Particle filter: number of particles"
        text = f"Particle filter N study, {args.episodes} episodes (seed {args.seed}).\n\n"
        text += particle_study(args.episodes, args.seed, args.sizes)
    elif args.catch_checks:
        key, title = "catch-checks", "OccludedCatch: exact values"
        text = catch_checks(restarts=3, generations=30)
    elif args.tracking_checks:
        key, title = "tracking-checks", "OccludedTracking: deterministic reactive controllers"
        text = f"{args.episodes} episodes (seed {args.seed}).\n\n"
        text += tracking_checks(args.episodes, args.seed)
    elif args.steering_study:
        key, title = "steering-study", "Steering on the particle posterior"
        text = f"Steering on the particle posterior, {args.episodes} episodes.\n\n"
        text += steering_study(args.episodes, args.seed)
    else:
        key, title = "memory-gap", "Memory gap: reference policies"
        text = f"Mean ± s.e. of the episode return, {args.episodes} episodes "
        text += f"(seed {args.seed}).\n\n"
        text += reference_table(args.episodes, args.seed)
    print(text)
    write_results(args.results_md, key, title, text)


if __name__ == "__main__":
    main()
