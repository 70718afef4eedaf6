"""``stateful-rl sweep``: a grid of runs (envs × agents × encoders × seeds) on Ray.

Sweep file (every trial is validated before Ray starts)::

    output: runs/sweep-catch        # trials in output/trials/<env>_<agent>[_<encoder>]_seed<S>
    envs: [OccludedCatch-v0]
    agents: [dqn, recurrent-dqn]
    encoders: [gru, lstm]           # for agents with an encoder; others run once (optional)
    seeds: [0, 1, 2]
    steps: 20000                    # optional: else each preset's
    set: {eval_episodes: 100, hyperparams.eval_freq: 2000}   # --set for every trial (optional)
    agent_set: {recurrent-dqn: {hyperparams.burn_in: 20}}    # --set for one agent (optional)
    cpus_per_trial: 1
    gpus_per_trial: auto            # auto: 1 when the Ray cluster has GPUs, else 0

Each trial is a Ray task (``ray.init()`` on this machine's cores, or ``--address`` to join a
cluster whose nodes have stateful-rl installed) that trains into its own run directory.
Results: ``results.csv`` (one row per trial), ``summary.csv`` (per configuration: mean
final return and memory score with a 95% t-interval over seeds) and
``comparison_<env>.png`` (evaluation curves, mean and 95% interval over seeds).
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from stateful_rl.agents import AGENTS
from stateful_rl.agents.persistence import write_atomic
from stateful_rl.cli.config import (
    ConfigError,
    RunConfig,
    check_choice,
    check_type,
    hyperparam_names,
    load_yaml,
    merge,
    nest,
    resolve_config,
)
from stateful_rl.cli.plots import Curve, plot_curves
from stateful_rl.cli.run_dir import RunDirectory

SWEEP_KEYS = {
    "output": str,
    "envs": list,
    "agents": list,
    "encoders": list,
    "seeds": list,
    "steps": int,
    "set": dict,
    "agent_set": dict,
    "cpus_per_trial": int,
    "gpus_per_trial": int | float | str,
}
REQUIRED = ("output", "envs", "agents", "seeds")


@dataclass(frozen=True)
class Trial:
    """One grid point: its configuration, label and run directory."""

    config: RunConfig
    encoder: str | None
    run_dir: Path

    @property
    def label(self) -> str:
        return self.config.agent + (f" ({self.encoder})" if self.encoder else "")


def load_sweep(path: str | Path) -> tuple[dict[str, Any], list[Trial]]:
    """The validated sweep file and its trials (a ``ConfigError`` names any bad key)."""
    spec = load_yaml(path)
    unknown = sorted(set(spec) - set(SWEEP_KEYS))
    if unknown:
        raise ConfigError(f"unknown sweep key(s) {unknown}; allowed: {', '.join(SWEEP_KEYS)}")
    for key in REQUIRED:
        if key not in spec:
            raise ConfigError(f"sweep file {path} needs {key}: (required: {', '.join(REQUIRED)})")
    for key, value in spec.items():
        check_type(f"sweep {key}", value, SWEEP_KEYS[key])
    gpus = spec.get("gpus_per_trial", "auto")
    if isinstance(gpus, str) and gpus != "auto":
        raise ConfigError(f"sweep gpus_per_trial must be a number or 'auto', got {gpus!r}")
    overrides = nest(list(spec.get("set", {}).items()))
    trials = []
    for env_id, agent, seed in itertools.product(spec["envs"], spec["agents"], spec["seeds"]):
        check_choice("agent", agent, list(AGENTS))
        agent_overrides = merge(
            overrides, nest(list(spec.get("agent_set", {}).get(agent, {}).items()))
        )
        has_encoder = "encoder" in hyperparam_names(agent)
        for encoder in (spec.get("encoders") or [None]) if has_encoder else [None]:
            update = merge(
                agent_overrides, {"hyperparams": {"encoder": encoder}} if encoder else {}
            )
            flags = {"env": env_id, "agent": agent, "seed": seed, "steps": spec.get("steps")}
            config = resolve_config(None, update, flags)
            name = f"{config.env.split('/')[-1]}_{agent}{'_' + encoder if encoder else ''}"
            run_dir = Path(spec["output"]) / "trials" / f"{name}_seed{seed}"
            trials.append(Trial(config, encoder, run_dir))
    return spec, trials


def run_trial(config: RunConfig, run_dir: Path, threads: int) -> dict[str, Any]:
    """Train one trial (in a Ray worker); its ``eval.json`` plus the evaluation curve."""
    import json

    import torch

    from stateful_rl.cli.training import train

    torch.set_num_threads(threads)
    start = time.perf_counter()
    train(config, run_dir, progress_bar=False)
    run = RunDirectory(run_dir)
    result = json.loads(run.eval_json.read_text())
    result["seconds"] = time.perf_counter() - start
    result["evaluations"] = run.read_evaluations().tolist()
    return result


def gpus_per_trial(spec: dict[str, Any], cluster_gpus: float) -> float:
    """``gpus_per_trial`` of the sweep file; ``auto``: 1 when the cluster has a GPU, else 0."""
    value = spec.get("gpus_per_trial", "auto")
    if value == "auto":
        return 1.0 if cluster_gpus >= 1 else 0.0
    return float(value)


def run_sweep(
    path: str | Path, address: str | None = None, num_cpus: int | None = None
) -> list[dict[str, Any]]:
    """Validate the sweep, run every trial as a Ray task, aggregate; the trial results."""
    spec, trials = load_sweep(path)
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "sweeps need Ray: pip install 'stateful-rl[sweep]' (or pip install 'ray[tune]')"
        ) from None
    for trial in trials:
        if trial.run_dir.exists() and any(trial.run_dir.iterdir()):
            raise ConfigError(f"trial directory {trial.run_dir} is not empty: use another output")
    if address:
        ray.init(address=address)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False)
    try:
        cpus = spec.get("cpus_per_trial", 1)
        gpus = gpus_per_trial(spec, ray.cluster_resources().get("GPU", 0.0))
        task = ray.remote(run_trial).options(num_cpus=cpus, num_gpus=gpus)
        print(f"sweep: {len(trials)} trials, {cpus} CPU and {gpus} GPU each")
        pending = {task.remote(t.config, t.run_dir, cpus): t for t in trials}
        results = {}
        while pending:
            [done], _ = ray.wait(list(pending), num_returns=1)
            trial = pending.pop(done)
            result = results[trial.run_dir] = ray.get(done)
            print(
                f"  {trial.run_dir.name}: return {result['mean_return']:.3f} "
                f"({result['seconds']:.0f} s); {len(pending)} left"
            )
    finally:
        ray.shutdown()
    ordered = [results[t.run_dir] for t in trials]
    write_results(Path(spec["output"]), trials, ordered)
    return ordered


def interval95(values: np.ndarray) -> tuple[float, float]:
    """Half-width of the 95% Student-t interval of the mean of ``values`` over axis 0
    (0 for a single value)."""
    n = len(values)
    if n < 2:
        return np.zeros(np.shape(values)[1:])
    return stats.t.ppf(0.975, n - 1) * values.std(axis=0, ddof=1) / np.sqrt(n)


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def write_results(output: Path, trials: list[Trial], results: list[dict[str, Any]]) -> None:
    """``results.csv``, ``summary.csv`` and one ``comparison_<env>.png`` per env."""
    rows = [
        {
            "env": t.config.env,
            "agent": t.config.agent,
            "encoder": t.encoder or "",
            "seed": t.config.seed,
            "steps": t.config.steps,
            "mean_return": r["mean_return"],
            "std_return": r["std_return"],
            "memory_score": r["memory_score"],
            "seconds": r["seconds"],
            "run_dir": str(t.run_dir),
        }
        for t, r in zip(trials, results, strict=True)
    ]
    write_atomic(output / "results.csv", csv_bytes(rows))
    groups: dict[tuple[str, str], list[tuple[Trial, dict[str, Any]]]] = {}
    for trial, result in zip(trials, results, strict=True):
        groups.setdefault((trial.config.env, trial.label), []).append((trial, result))
    summary, curves = [], {}
    for (env_id, label), members in groups.items():
        finals = np.array([r["mean_return"] for _, r in members])
        scores = [r["memory_score"] for _, r in members if r["memory_score"] is not None]
        half = float(interval95(finals))
        summary.append(
            {
                "env": env_id,
                "configuration": label,
                "seeds": len(members),
                "mean_return": float(finals.mean()),
                "ci95_low": float(finals.mean() - half),
                "ci95_high": float(finals.mean() + half),
                "memory_score": float(np.mean(scores)) if scores else "",
            }
        )
        curve = seed_curve(label, [np.array(r["evaluations"]) for _, r in members])
        if curve is not None:
            curves.setdefault(env_id, []).append(curve)
    write_atomic(output / "summary.csv", csv_bytes(summary))
    for env_id, env_curves in curves.items():
        name = env_id.split("/")[-1]
        plot_curves(
            env_curves,
            output / f"comparison_{name}.png",
            f"{name}: mean evaluation return over seeds",
            "95% t-interval over seeds",
        )


def seed_curve(label: str, evaluations: list[np.ndarray]) -> Curve | None:
    """Mean and 95% interval over seeds at the evaluation steps every seed has."""
    if any(len(e) == 0 for e in evaluations):
        return None
    steps = sorted(set.intersection(*(set(e[:, 0].tolist()) for e in evaluations)))
    means = np.array(
        [[dict(zip(e[:, 0], e[:, 1], strict=True))[s] for s in steps] for e in evaluations]
    )
    mean, half = means.mean(axis=0), interval95(means)
    return Curve(label, np.array(steps), mean, mean - half, mean + half)
