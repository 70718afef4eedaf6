"""``stateful-rl train --seeds 0 1 2 3 4``: the seeds of one run trained together.

Layout of the parent directory::

    PARENT/seed<S>/             an ordinary run directory per seed (see run_dir): each one
                                can be evaluated (``eval``) and resumed alone
    PARENT/summary.json         across seeds: mean and 95% t-interval of the kept and final
                                models' returns (and memory scores, where defined)
    PARENT/learning_curve.png   evaluation curves: mean and 95% t-interval over seeds

Agents whose training has a batched form (DQN, Double DQN, ESN-DQN, NFQ) train as one
batched computation (:mod:`stateful_rl.agents.seed_batch`), every seed as it would alone;
the others (trained recurrent encoders) train their seeds one after another in this
process. ``--resume PARENT`` continues every seed from its own checkpoint, together again;
``--resume PARENT/seed<S>`` continues one seed alone.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from stateful_rl.agents.base import BaseAgent, CallbackLike
from stateful_rl.agents.seed_batch import generator_states, run_together
from stateful_rl.cli.config import ConfigError, RunConfig, load_run_config
from stateful_rl.cli.plots import plot_curves
from stateful_rl.cli.run_dir import RunDirectory, write_json
from stateful_rl.cli.training import _train_new, build_agent, prepare_resume

SEED_DIR = re.compile(r"^seed(-?\d+)$")


def seed_run(parent: Path, seed: int) -> RunDirectory:
    """The run directory of ``seed`` inside ``parent``."""
    return RunDirectory(parent / f"seed{seed}")


def seed_runs(parent: Path) -> list[RunDirectory]:
    """The seed run directories in ``parent`` (those holding a config.yaml), by seed."""
    found = []
    for path in parent.iterdir() if parent.is_dir() else []:
        match = SEED_DIR.match(path.name)
        if match and (path / "config.yaml").is_file():
            found.append((int(match.group(1)), RunDirectory(path)))
    return [run for _, run in sorted(found, key=lambda item: item[0])]


def is_seed_parent(path: Path) -> bool:
    """Whether ``path`` is a parent of seed runs (no config.yaml of its own)."""
    return not (path / "config.yaml").exists() and bool(seed_runs(path))


def train_seeds(
    configs: Sequence[RunConfig],
    parent: Path,
    progress_bar: bool = True,
    callback: CallbackLike = None,
) -> None:
    """Train one run per config (the seeds of one run) into ``parent/seed<S>``, together,
    then write the across-seed summary and curves; every seed directory must be new.
    ``callback``: a function ``f(locals, globals) -> bool`` that every seed's ``learn`` calls."""
    runs = [seed_run(parent, config.seed) for config in configs]
    train_runs(configs, runs, progress_bar, callback)
    write_summary(parent, configs, runs)


def train_runs(
    configs: Sequence[RunConfig],
    runs: Sequence[RunDirectory],
    progress_bar: bool = True,
    callback: CallbackLike = None,
) -> None:
    """Train run ``i`` of ``config[i]`` into ``runs[i]`` (each new), all in this process,
    together where the agents allow (see the module docstring); ``callback`` as in
    :func:`train_seeds`."""
    for run in runs:
        if not run.is_new():
            raise ConfigError(f"run directory {run.root} is not empty: pass another --run-dir")
    agents, generators = [], []
    for config in configs:  # every config check before anything is written
        agents.append(build_agent(config))
        generators.append(generator_states())
    with contextlib.ExitStack() as locks:
        for run in runs:
            run.root.mkdir(parents=True, exist_ok=True)
            locks.enter_context(run.lock("train --seeds"))
            if not run.is_new():
                raise ConfigError(f"run directory {run.root} was just taken by another run")
        tasks = [
            lambda a=agent, c=config, r=run: _train_new(a, c, r, False, callback)
            for agent, config, run in zip(agents, configs, runs, strict=True)
        ]
        _run(tasks, agents, generators, [config.steps for config in configs], progress_bar)


def resume_seeds(parent: Path, progress_bar: bool = True) -> list[RunConfig]:
    """Continue every seed run in ``parent`` from its checkpoint (together), then rewrite the
    summary; the seeds' configs."""
    runs = seed_runs(parent)
    configs = [load_run_config(run.root) for run in runs]
    with contextlib.ExitStack() as locks:
        agents, tasks, generators = [], [], []
        for run, config in zip(runs, configs, strict=True):
            locks.enter_context(run.lock("train --resume"))
            agent, finish = prepare_resume(run, config)
            agents.append(agent)
            tasks.append(lambda finish=finish: finish(progress_bar=False))
            generators.append(generator_states())
        _run(tasks, agents, generators, [config.steps for config in configs], progress_bar)
    write_summary(parent, configs, runs)
    return configs


def _run(
    tasks: list[Callable[[], Any]],
    agents: list[BaseAgent],
    generators: list[tuple[Any, ...]],
    steps: list[int],
    progress_bar: bool,
) -> None:
    """Run the seeds' tasks together, with one progress bar over all their env steps."""
    reasons = {agent.seed_batch_error() for agent in agents} - {None}
    how = "together" if not reasons else f"one after another ({reasons.pop()})"
    print(f"training {len(tasks)} seeds {how}", file=sys.stderr)
    bar = tqdm(total=sum(steps), unit="step", disable=not progress_bar)
    done = sum(agent.num_timesteps for agent in agents)
    bar.update(done)

    def progress() -> None:
        bar.update(sum(agent.num_timesteps for agent in agents) - bar.n)

    try:
        run_together(tasks, progress=progress, generators=generators)
    finally:
        bar.close()


def interval(values: Sequence[float]) -> dict[str, Any]:
    """Mean and 95% Student-t interval of ``values`` (over seeds), and the values."""
    from stateful_rl.cli.sweep import interval95

    array = np.asarray(values, dtype=float)
    mean, half = float(array.mean()), float(interval95(array))
    return {"mean": mean, "ci95_low": mean - half, "ci95_high": mean + half, "values": list(values)}


def write_summary(
    parent: Path, configs: Sequence[RunConfig], runs: Sequence[RunDirectory]
) -> dict[str, Any]:
    """``summary.json`` and ``learning_curve.png`` of the seed runs in ``parent``."""
    from stateful_rl.cli.sweep import seed_curve

    results = [json.loads(run.eval_json.read_text()) for run in runs]
    summary: dict[str, Any] = {
        "env": configs[0].env,
        "agent": configs[0].agent,
        "seeds": [config.seed for config in configs],
        "episodes": results[0]["episodes"],
        "kept_model": [r["model"] for r in results],
        "kept_return": interval([r["mean_return"] for r in results]),
        "final_return": interval([r["final"]["mean_return"] for r in results]),
    }
    for name, scores in (
        ("kept_memory_score", [r["memory_score"] for r in results]),
        ("final_memory_score", [r["final"]["memory_score"] for r in results]),
    ):
        if all(s is not None and math.isfinite(s) for s in scores):
            summary[name] = interval(scores)
    write_json(parent / "summary.json", summary)
    curve = seed_curve(configs[0].agent, [run.read_evaluations() for run in runs])
    if curve is not None:
        plot_curves(
            [curve],
            parent / "learning_curve.png",
            f"{configs[0].agent} on {configs[0].env}, {len(runs)} seeds",
            "95% t-interval over seeds",
        )
    return summary


def summary_text(summary: dict[str, Any]) -> str:
    """One line: kept and final mean return with their 95% intervals over seeds."""

    def describe(name: str) -> str:
        part = summary[name]
        return f"{part['mean']:.3f} [{part['ci95_low']:.3f}, {part['ci95_high']:.3f}]"

    text = (
        f"{summary['env']} {summary['agent']}, seeds {summary['seeds']}: kept return "
        f"{describe('kept_return')}, final {describe('final_return')}"
    )
    if "kept_memory_score" in summary:
        text += f"; memory score kept {describe('kept_memory_score')}"
    return text + " (mean [95% interval] over seeds)"
