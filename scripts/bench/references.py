"""CPU time of every reference policy on 1000 episodes of each memory env.

One process, one thread, ``time.process_time`` around ``episode_returns`` (env stepping
included). The one-time costs are timed apart: the exact search for the catch table
(cached per process afterwards) and, with ``--fit``, the CMA-ES optimisation of a tracking
controller (stored in the package for the registered configurations, so evaluations only
load it). Floor: <= 30 s CPU per policy and env.

    python -m stateful_rl.bench.references --episodes 1000
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.envs.reactive_tracking import optimise_reactive_params
from stateful_rl.envs.reference_policies import POLICIES, catch_table, episode_returns
from stateful_rl.report.results import add_results_arguments, recorded

ENVS = [
    ("OccludedCatch-v0", {}),
    ("OccludedCatch-v1", {}),
    ("OccludedTracking-v0", {}),
    ("OccludedTracking-v1", {}),
    ("OccludedTracking-v1", {"dim": 2}),
    ("OccludedTracking-v1", {"dynamics": "random_accel"}),
    ("OccludedTracking-v1", {"occluders": "both"}),
]
FLOOR_S = 30.0


def cpu_seconds(function, *args, **kwargs) -> tuple[float, object]:
    start = time.process_time()
    result = function(*args, **kwargs)
    return time.process_time() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--fit", action="store_true", help="also time one CMA-ES fit")
    add_results_arguments(parser)
    args = parser.parse_args()
    with recorded(args.results_md, "references-speed", "Reference policies: CPU time"):
        print(f"CPU seconds for {args.episodes} episodes (floor {FLOOR_S:.0f} s per cell).\n")
        print("| env | " + " | ".join(POLICIES) + " | one-time |")
        print("|---|" + "---:|" * (len(POLICIES) + 1))
        worst = 0.0
        for name, kwargs in ENVS:
            env_id = f"stateful_rl/{name}"
            task = gym.make(env_id, **kwargs).unwrapped.task
            once = ""
            if "Catch" in name:
                catch_table.cache_clear()
                seconds, _ = cpu_seconds(catch_table, task)  # solved here, then cached
                once = f"table search {seconds:.2f} s"
            elif args.fit:
                seconds, _ = cpu_seconds(optimise_reactive_params, task)
                once = f"CMA-ES fit {seconds:.1f} s"
            cells = []
            for policy in POLICIES:
                seconds, _ = cpu_seconds(
                    episode_returns, env_id, policy, args.episodes, 0, **kwargs
                )
                worst = max(worst, seconds)
                cells.append(f"{seconds:.1f}")
            label = name + "".join(f" {k}={v}" for k, v in kwargs.items())
            print(f"| {label} | " + " | ".join(cells) + f" | {once} |")
        verdict = "meets" if worst <= FLOOR_S else "misses"
        print(f"\nslowest cell {worst:.1f} s: {verdict} the {FLOOR_S:.0f} s floor")


if __name__ == "__main__":
    main()
