"""Print the reference-policy table of every occluded environment (the memory gap).

For each env (registered defaults, plus band occluders, 2-D and the other tracking
dynamics): mean ± std
episode return of the ``random``, ``memoryless``, ``kalman`` and ``oracle`` reference
policies over the same seeded episodes, and the Kalman policy's memory score
``(R - R_memoryless) / (R_oracle - R_memoryless)``. Takes a few seconds.

    python -m stateful_rl.report.reference_table --episodes 1000
"""

from __future__ import annotations

import argparse

from stateful_rl.envs.reference_policies import (
    POLICIES,
    evaluate_reference_policies,
    memory_score,
)

TRACKING = "stateful_rl/OccludedTracking-v0"
ENVS = [
    ("OccludedTracking-v0 (defaults: 1-D bounce, time windows)", TRACKING, {}),
    ("OccludedTracking-v0 occluders=both (windows + band)", TRACKING, {"occluders": "both"}),
    ("OccludedTracking-v0 dim=2", TRACKING, {"dim": 2}),
    ("OccludedTracking-v0 dynamics=oscillator", TRACKING, {"dynamics": "oscillator"}),
    ("OccludedTracking-v0 dynamics=random_accel", TRACKING, {"dynamics": "random_accel"}),
    ("OccludedCatch-v0 (defaults)", "stateful_rl/OccludedCatch-v0", {}),
]


def reference_table(episodes: int, seed: int) -> str:
    """The markdown table of every env in ``ENVS``."""
    lines = [
        "| env | " + " | ".join(POLICIES) + " | Kalman memory score |",
        "|---|" + "---:|" * (len(POLICIES) + 1),
    ]
    for label, env_id, kwargs in ENVS:
        results = evaluate_reference_policies(env_id, episodes, seed, **kwargs)
        cells = [f"{mean:.2f} ± {std:.2f}" for mean, std in results.values()]
        score = memory_score(results["kalman"][0], results["memoryless"][0], results["oracle"][0])
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {score:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=1000, help="episodes per policy")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"Mean ± std episode return over {args.episodes} episodes (seed {args.seed}).\n")
    print(reference_table(args.episodes, args.seed))


if __name__ == "__main__":
    main()
