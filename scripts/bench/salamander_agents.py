"""Agents that find the goal of ``SalamanderTarget``: reference policies, the memoryless
optimum, trained agents and their memory scores; prints markdown tables.

    python -m stateful_rl.bench.salamander_agents references          # returns, gap ratios
    python -m stateful_rl.bench.salamander_agents memoryless          # CMA-ES, writes the json
    python -m stateful_rl.bench.salamander_agents learn --agents recurrent-dqn dqn --seeds 0 1 2
    python -m stateful_rl.bench.salamander_agents table               # stored results
    python -m stateful_rl.bench.salamander_agents figure docs/figures/salamander_target_learning.png

``learn`` trains each (agent, seed) with the command line, ``stateful-rl train --env
SalamanderTarget-v2 --agent A --seed S`` (the agent's preset), each in its own process
(CPU time is that process's, from ``wait4``), at most ``--jobs`` at once; the run's own
final evaluation (``eval.json``: the kept model and the final one on 100 fresh episodes,
seeds from ``stateful_rl.cli.evaluate.EVAL_SEED``) is scored against the reference
policies on the same 100 seeds: memory score ``(R − R_memoryless) / (R_bayes −
R_memoryless)``, with the dead-reckoning policy as the Bayes reference. One JSON line per
run goes to ``--results`` (default ``docs/data/salamander_agents.jsonl``, kept in the
repository with the table it renders; the references' returns are cached next to it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.cli.config import load_run_config
from stateful_rl.cli.evaluate import EVAL_SEED
from stateful_rl.envs.salamander.references import (
    PARAMETERS_FILE,
    POLICIES,
    Episodes,
    gap_ratio,
    initial_memoryless_parameters,
    load_memoryless_parameters,
    memory_score,
    optimise_memoryless,
    reference_returns,
    run_episodes,
)
from stateful_rl.report.results import add_results_arguments, recorded

ENV_ID = "stateful_rl/SalamanderTarget-v2"
V1_ID = "stateful_rl/SalamanderTarget-v1"
ENV_KWARGS = {"control": "cpg_discrete"}
N_FRESH = 100  # the final evaluation's episodes (the presets' eval_episodes)
LABELS = {"random": "random", "memoryless": "best memoryless (CMA-ES)",
          "dead_reckoning": "dead reckoning (Bayes)", "oracle": "oracle"}  # fmt: skip


def reference_row(name: str, episodes: Episodes) -> list[Any]:
    mean, error = episodes.mean_and_error()
    return [LABELS[name], f"{mean:.2f} ± {error:.2f}", f"{episodes.reached.mean():.2f}",
            f"{episodes.lengths.mean():.0f}"]  # fmt: skip


def markdown_row(cells: list[Any], header: bool = False) -> None:
    """Print one markdown table row (and the separator after a header)."""
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)
    if header:
        print("|" + "---|" * len(cells))


def print_references(n_episodes: int, seed: int) -> None:
    """Every reference on v2 and v1 (same seeds), and the gap ratios. On v1 the memoryless
    reference is the hand-made start of the optimiser (search by turning, steer to the seen
    goal): the optimum can only do better, so v1's ratio is an upper bound."""
    for env_id, note in ((ENV_ID, ""), (V1_ID, " (memoryless: hand-made search and steer)")):
        policy_kwargs = {}
        if env_id == V1_ID:
            policy_kwargs["memoryless"] = {"params": initial_memoryless_parameters(3)}
        results = {
            name: run_episodes(
                env_id, name, n_episodes, seed, policy_kwargs.get(name), **ENV_KWARGS
            )
            for name in POLICIES
        }
        print(f"\n{env_id}{note}, {n_episodes} episodes, seeds {seed}..{seed + n_episodes - 1}")
        markdown_row(["policy", "return (mean ± s.e.)", "reached", "steps"], header=True)
        for name, episodes in results.items():
            markdown_row(reference_row(name, episodes))
        ratio = gap_ratio({k: float(e.returns.mean()) for k, e in results.items()})
        print(f"gap ratio (R_bayes − R_memoryless) / (R_bayes − R_random): {ratio:.3f}")


def optimise(generations: int, popsize: int, episodes: int, seed: int, out: Path) -> None:
    """CMA-ES for the memoryless reference; writes its parameters after every generation
    (an interrupted run leaves its latest mean) and, at the end, how they score on the
    final evaluation's 100 fresh episodes."""
    cpu = time.process_time()
    settings = {"generations": generations, "popsize": popsize,
                "episodes_per_candidate": episodes, "seed": seed}  # fmt: skip

    def write(params: np.ndarray, history: list, fresh: dict | None = None) -> None:
        record = {
            "env_id": ENV_ID, "env_kwargs": ENV_KWARGS,
            "params": [round(float(p), 6) for p in params], "optimiser": settings,
            "history": [{"generation": g, "best": round(b, 3), "mean": round(m, 3)}
                        for g, b, m in history],
            "fresh_episodes": fresh,
        }  # fmt: skip
        out.write_text(json.dumps(record, indent=1) + "\n")

    def progress(params: np.ndarray, history: list) -> None:
        write(params, history)
        g, best, mean = history[-1]
        print(f"generation {g}: best {best:.2f}, population mean {mean:.2f}, "
              f"CPU {time.process_time() - cpu:.0f} s", flush=True)  # fmt: skip

    params, history = optimise_memoryless(
        ENV_ID, generations, popsize, episodes, seed, progress=progress, **ENV_KWARGS
    )
    fresh = run_episodes(ENV_ID, "memoryless", N_FRESH, EVAL_SEED, {"params": params},
                         **ENV_KWARGS)  # fmt: skip
    mean, error = fresh.mean_and_error()
    write(
        params,
        history,
        {
            "seeds": [EVAL_SEED, EVAL_SEED + N_FRESH - 1],
            "mean_return": round(mean, 3),
            "standard_error": round(error, 3),
        },
    )
    print(f"memoryless on {N_FRESH} fresh episodes: {mean:.2f} ± {error:.2f}; wrote {out}")


def fresh_references(cache: Path) -> dict[str, float]:
    """Mean return of every reference on the final evaluation's 100 seeds; kept in
    ``cache`` with the memoryless parameters they were computed with (recomputed when
    those change)."""
    params = load_memoryless_parameters().tolist()
    if cache.is_file():
        stored = json.loads(cache.read_text())
        if stored["memoryless_params"] == params:
            return stored["means"]
    results = reference_returns(ENV_ID, N_FRESH, EVAL_SEED, **ENV_KWARGS)
    means = {name: float(episodes.returns.mean()) for name, episodes in results.items()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"memoryless_params": params, "means": means}, indent=1))
    return means


def train_command(agent: str, seed: int, run_dir: Path, steps: int | None) -> list[str]:
    command = [sys.executable, "-m", "stateful_rl.cli", "train", "--env", ENV_ID,
               "--agent", agent, "--seed", str(seed), "--run-dir", str(run_dir),
               "--no-progress"]  # fmt: skip
    return command + (["--steps", str(steps)] if steps else [])


def run_result(agent: str, seed: int, run_dir: Path, cpu: float) -> dict[str, Any]:
    """The JSON line of a finished run: kept and final returns, the evaluation curve."""
    evaluation = json.loads((run_dir / "eval.json").read_text())
    curve = np.loadtxt(run_dir / "evaluations.csv", delimiter=",", skiprows=1, ndmin=2)
    return {
        "agent": agent, "seed": seed, "env": ENV_ID, "steps": load_run_config(run_dir).steps,
        "kept_step": evaluation["num_timesteps"], "run_dir": str(run_dir),
        "kept": evaluation["mean_return"],
        "final": evaluation["final"]["mean_return"], "cpu_s": round(cpu, 1),
        "curve": [[int(s), round(float(m), 3)] for s, m, *_ in curve],
    }  # fmt: skip


def learn(agents: list[str], seeds: list[int], steps: int | None, jobs: int, root: Path,
          results: Path) -> None:  # fmt: skip
    queue = [(a, s) for a in agents for s in seeds]
    running: dict[int, tuple[str, int, Path, subprocess.Popen]] = {}
    results.parent.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}  # fmt: skip
    while queue or running:
        while queue and len(running) < jobs:
            agent, seed = queue.pop(0)
            run_dir = root / f"{agent}_seed{seed}"
            log = (root / f"{agent}_seed{seed}.log").open("w")
            proc = subprocess.Popen(train_command(agent, seed, run_dir, steps), stdout=log,
                                    stderr=subprocess.STDOUT, env=env)  # fmt: skip
            running[proc.pid] = (agent, seed, run_dir, proc)
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        agent, seed, run_dir, proc = running.pop(pid)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            print(f"{agent} seed {seed} failed ({proc.returncode}): see its log", flush=True)
            continue
        result = run_result(agent, seed, run_dir, usage.ru_utime + usage.ru_stime)
        with results.open("a") as f:
            f.write(json.dumps(result) + "\n")
        print(json.dumps({k: v for k, v in result.items() if k != "curve"}), flush=True)


def load_results(results: Path) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in results.read_text().splitlines():
        r = json.loads(line)
        rows[r["agent"]].append(r)
    return rows


def print_table(results: Path, refs: dict[str, float]) -> None:
    """Per agent and seed: env steps, kept and final return on 100 fresh episodes, memory
    scores ``(R − R_memoryless) / (R_bayes − R_memoryless)``, CPU time; the references'
    returns on the same episodes."""

    def score(ret: float) -> str:
        return f"{memory_score(ret, refs['memoryless'], refs['dead_reckoning']):.2f}"

    markdown_row(["agent", "seed", "env steps", "kept at", "kept return", "final return",
                  "memory score kept / final", "CPU s"], header=True)  # fmt: skip
    for agent, rs in load_results(results).items():
        for r in sorted(rs, key=lambda r: r["seed"]):
            scores = f"{score(r['kept'])} / {score(r['final'])}"
            markdown_row([agent, r["seed"], r["steps"], r["kept_step"], f"{r['kept']:.2f}",
                          f"{r['final']:.2f}", scores, f"{r['cpu_s']:.0f}"])  # fmt: skip
    print(f"\nreferences on the same {N_FRESH} episodes: "
          + ", ".join(f"{LABELS[k]} {refs[k]:.2f}" for k in POLICIES))  # fmt: skip


def plot_figure(results: Path, refs: dict[str, float], out: Path) -> None:
    """Evaluation return against env steps, each seed of each agent, with the references."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = load_results(results)
    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.4), sharey=True,
                             squeeze=False)  # fmt: skip
    colors = {"random": "0.6", "memoryless": "tab:orange", "dead_reckoning": "tab:green",
              "oracle": "tab:blue"}  # fmt: skip
    for ax, (agent, rs) in zip(axes[0], rows.items(), strict=True):
        for r in sorted(rs, key=lambda r: r["seed"]):
            steps, means = np.array(r["curve"]).T
            ax.plot(steps / 1e3, means, color="tab:red", alpha=0.8, lw=1.2,
                    label="evaluations (20 episodes), one line per seed"
                    if r is rs[0] else None)  # fmt: skip
        for name in POLICIES:
            ax.axhline(refs[name], color=colors[name], ls="--", lw=1, label=LABELS[name])
        ax.set_title(f"{agent} ({len(rs)} seed{'s' if len(rs) > 1 else ''})")
        ax.set_xlabel("env steps (thousands)")
    axes[0, 0].set_ylabel("mean return")
    axes[0, -1].legend(fontsize=7, loc="center right")
    fig.suptitle(f"{ENV_ID.split('/')[1]}, control=cpg_discrete", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ref = sub.add_parser("references", help="reference returns and gap ratios (v2 and v1)")
    ref.add_argument("--episodes", type=int, default=N_FRESH)
    ref.add_argument("--seed", type=int, default=EVAL_SEED)
    opt = sub.add_parser("memoryless", help="CMA-ES of the memoryless reference")
    opt.add_argument("--generations", type=int, default=40)
    opt.add_argument("--popsize", type=int, default=12)
    opt.add_argument("--episodes", type=int, default=16, help="training episodes per candidate")
    opt.add_argument("--seed", type=int, default=0)
    opt.add_argument("--out", type=Path, default=PARAMETERS_FILE)
    lrn = sub.add_parser("learn", help="train agents with the command line, score them")
    lrn.add_argument("--agents", nargs="+", default=["recurrent-dqn", "dqn", "recurrent-nfq"])
    lrn.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    lrn.add_argument("--steps", type=int, help="env steps (default: the presets')")
    lrn.add_argument("--jobs", type=int, default=2, help="trainings at once")
    lrn.add_argument("--runs", type=Path, default=Path("runs/salamander_agents"))
    sub.add_parser("table", help="print the stored results")
    fig = sub.add_parser("figure", help="learning curves with the reference levels")
    fig.add_argument("out", type=Path)
    parser.add_argument("--results", type=Path, default=Path("docs/data/salamander_agents.jsonl"))
    add_results_arguments(parser)
    args = parser.parse_args(argv)
    if args.command == "references":
        with recorded(args.results_md, "salamander-references", "Salamander: references"):
            print_references(args.episodes, args.seed)
    elif args.command == "memoryless":
        optimise(args.generations, args.popsize, args.episodes, args.seed, args.out)
    elif args.command == "learn":
        learn(args.agents, args.seeds, args.steps, args.jobs, args.runs, args.results)
    elif args.command == "table":
        refs = fresh_references(args.results.with_suffix(".references.json"))
        with recorded(args.results_md, "salamander-agents", "Salamander: agents"):
            print_table(args.results, refs)
    else:
        refs = fresh_references(args.results.with_suffix(".references.json"))
        plot_figure(args.results, refs, args.out)


if __name__ == "__main__":
    main()
