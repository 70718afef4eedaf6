"""Speed of our environments next to ``CartPole-v1`` and ``SyncVectorEnv``, in the same run.

Single envs: random-action steps per second, every env made the same way (``gym.make``,
so the same wrappers) and measured in interleaved rounds (best round kept), with the
ratio to CartPole-v1. Vector envs: env-steps per second of our native numpy vector env
(``vector_entry_point``) and of ``SyncVectorEnv`` over the single env, same ``num_envs``.
Floors: single env with vector observations >= 1.0x CartPole-v1; native vector
>= 20x sync. One process, one thread.

    python -m stateful_rl.bench.envs --steps 20000 --num-envs 1024
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.bench.common import steps_per_second
from stateful_rl.report.results import add_results_arguments, recorded

TRACKING = "stateful_rl/OccludedTracking-v0"
SINGLE = [
    ("CartPole-v1", "CartPole-v1", {}),
    ("OccludedTracking-v0", TRACKING, {}),
    ("OccludedTracking-v0 dim=2", TRACKING, {"dim": 2}),
    ("OccludedTracking-v0 oscillator", TRACKING, {"dynamics": "oscillator"}),
    ("OccludedTracking-v0 random_accel", TRACKING, {"dynamics": "random_accel"}),
    ("OccludedTracking-v0 pixels", TRACKING, {"obs_type": "pixels"}),
    ("OccludedTracking-v0 dim=2 pixels", TRACKING, {"dim": 2, "obs_type": "pixels"}),
    ("OccludedCatch-v0", "stateful_rl/OccludedCatch-v0", {}),
    ("CartPoleNoVel-v0", "stateful_rl/CartPoleNoVel-v0", {}),
    ("CartPoleFlicker-v0", "stateful_rl/CartPoleFlicker-v0", {}),
]
VECTOR = [
    ("OccludedTracking-v0", TRACKING, {}),
    ("OccludedTracking-v0 dim=2", TRACKING, {"dim": 2}),
    ("OccludedCatch-v0", "stateful_rl/OccludedCatch-v0", {}),
]


def vector_steps_per_second(env: gym.vector.VectorEnv, steps: int) -> float:
    """Env-steps (sub-env transitions) per wall second of a vector env."""
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(env.single_action_space.n, size=(steps, env.num_envs))
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    return steps * env.num_envs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="single-env steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best kept)")
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--vector-steps", type=int, default=1000, help="native vector steps")
    add_results_arguments(parser)
    args = parser.parse_args()

    envs = {name: gym.make(env_id, **kwargs) for name, env_id, kwargs in SINGLE}
    best = dict.fromkeys(envs, 0.0)
    for _ in range(args.rounds):
        for name, env in envs.items():
            best[name] = max(best[name], steps_per_second(env, args.steps))
    with recorded(args.results_md, "envs", "Environment speed"):
        print("| single env (gym.make, random actions) | steps/s | x CartPole-v1 |")
        print("|---|---:|---:|")
        for name, rate in best.items():
            print(f"| {name} | {rate:,.0f} | {rate / best['CartPole-v1']:.2f} |")

        print(f"\n| vector env, N={args.num_envs} | native env-steps/s | sync env-steps/s", end="")
        print(" | ratio |")
        print("|---|---:|---:|---:|")
        for name, env_id, kwargs in VECTOR:
            native = gym.make_vec(env_id, args.num_envs, "vector_entry_point", **kwargs)
            sync = gym.make_vec(env_id, args.num_envs, "sync", **kwargs)
            native_rate = max(
                vector_steps_per_second(native, args.vector_steps) for _ in range(args.rounds)
            )
            sync_rate = vector_steps_per_second(sync, max(args.vector_steps // 10, 10))
            ratio = native_rate / sync_rate
            print(f"| {name} | {native_rate:,.0f} | {sync_rate:,.0f} | {ratio:.1f} |")


if __name__ == "__main__":
    main()
