"""``stateful-rl demo``: does memory matter? Feed-forward vs recurrent DQN on an occluded task.

Trains a feed-forward DQN and a recurrent (GRU) DQN with their presets on
``OccludedCatch-v0`` (the ball is hidden for the last 7 of its 9 steps: where it lands
must be remembered) in two processes, evaluates both on the same seeded episodes as the
reference policies (random, memoryless, Kalman filter on the true model, oracle), prints
the table with the memory score ``(R - R_memoryless) / (R_oracle - R_memoryless)`` and saves
``learning_curve.png`` with both curves and the reference levels.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from stateful_rl.cli.config import RunConfig, resolve_config
from stateful_rl.cli.plots import plot_curves, std_curve
from stateful_rl.cli.run_dir import RunDirectory, fresh_dir

DEMO_ENV = "stateful_rl/OccludedCatch-v0"
DEMO_AGENTS = {"dqn": "DQN (feed-forward)", "recurrent-dqn": "recurrent DQN (GRU)"}
REFERENCE_LABELS = {
    "random": "random",
    "memoryless": "memoryless",
    "kalman": "Kalman filter",
    "oracle": "oracle",
}


def progress_printer(label: str, total: int, every: float = 0.1):
    """A ``learn`` callback printing one line each ``every`` of ``total`` steps: steps done,
    the latest evaluation, elapsed time (the demo's two agents train in other processes)."""
    start, next_mark = time.perf_counter(), every * total

    def report(local_vars: dict, global_vars: dict) -> bool:
        nonlocal next_mark
        agent = local_vars["self"]
        if agent.num_timesteps >= next_mark:
            next_mark += every * total
            latest = agent.eval_history[-1][1] if agent.eval_history else float("nan")
            print(
                f"  {label}: {agent.num_timesteps:>7}/{total} steps, last evaluation "
                f"{latest:+.3f}, {time.perf_counter() - start:.0f} s",
                file=sys.stderr,
                flush=True,
            )
        return True

    return report


def train_quietly(config: RunConfig, run_dir: Path, label: str) -> tuple[float, float]:
    """Train one run with one torch thread, printing a progress line every 10 %; (wall,
    CPU) seconds taken."""
    import torch

    from stateful_rl.cli.training import train

    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    train(config, run_dir, progress_bar=False, callback=progress_printer(label, config.steps))
    return time.perf_counter() - start, time.process_time() - cpu


def demo_table(results: dict[str, dict[str, Any]]) -> Table:
    """Rows: random, memoryless, the two agents, Kalman, oracle (mean ± std, memory score)."""
    any_result = next(iter(results.values()))
    references = any_result["reference"]
    low, high = references["memoryless"]["mean"], references["oracle"]["mean"]
    table = Table(
        title=f"{DEMO_ENV}: return over {any_result['episodes']} seeded episodes "
        "(memory score: 0 = memoryless, 1 = oracle)"
    )
    for column in ("policy", "return (mean ± std)", "memory score"):
        table.add_column(column, justify="left" if column == "policy" else "right")

    def row(label: str, mean: float, std: float) -> None:
        table.add_row(label, f"{mean:+.3f} ± {std:.3f}", f"{(mean - low) / (high - low):.2f}")

    for name in ("random", "memoryless"):
        row(REFERENCE_LABELS[name], references[name]["mean"], references[name]["std"])
    for agent, result in results.items():
        row(DEMO_AGENTS[agent], result["mean_return"], result["std_return"])
    for name in ("kalman", "oracle"):
        row(REFERENCE_LABELS[name], references[name]["mean"], references[name]["std"])
    return table


def run_demo(run_dir: Path, seed: int = 0, steps: int | None = None, workers: int = 2) -> dict:
    """Train, evaluate, print and plot; returns ``{agent: eval.json contents}``."""
    console = Console()
    start = time.perf_counter()
    root = fresh_dir(run_dir)
    configs = {
        agent: resolve_config(flags={"env": DEMO_ENV, "agent": agent, "seed": seed, "steps": steps})
        for agent in DEMO_AGENTS
    }
    console.print(
        f"Training {' and '.join(DEMO_AGENTS.values())} on {DEMO_ENV} "
        f"({', '.join(f'{c.steps} steps' for c in configs.values())}) into {root} ..."
    )
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {
            a: pool.submit(train_quietly, c, root / a, DEMO_AGENTS[a]) for a, c in configs.items()
        }
        for agent, future in futures.items():
            wall, cpu = future.result()
            console.print(f"  {DEMO_AGENTS[agent]}: trained in {wall:.0f} s ({cpu:.0f} s CPU)")
    results = {a: json.loads(RunDirectory(root / a).eval_json.read_text()) for a in DEMO_AGENTS}
    console.print(demo_table(results))
    references = next(iter(results.values()))["reference"]
    curves = [
        std_curve(DEMO_AGENTS[a], RunDirectory(root / a).read_evaluations()) for a in DEMO_AGENTS
    ]
    levels = {
        REFERENCE_LABELS[n]: references[n]["mean"] for n in ("memoryless", "kalman", "oracle")
    }
    plot_curves(
        curves,
        root / "learning_curve.png",
        f"Feed-forward vs recurrent DQN on {DEMO_ENV.split('/')[-1]}, seed {seed}",
        "±1 std over the evaluation episodes",
        references=levels,
    )
    console.print(
        f"Learning curves: {root / 'learning_curve.png'}; runs: {root}/<agent>/ "
        f"(total {time.perf_counter() - start:.0f} s)"
    )
    return results
