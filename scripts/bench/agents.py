"""Learning results and speed of the DQN family; prints markdown tables.

    python -m stateful_rl.bench.agents learn dqn-catch rdqn-gru-catch --seeds 0 1 2
    python -m stateful_rl.bench.agents table            # all results stored so far
    python -m stateful_rl.bench.agents speed            # steps/s against SB3 DQN and RecurrentPPO
    python -m stateful_rl.bench.agents seeds            # 8 seeds together vs one after another
    python -m stateful_rl.bench.agents seeds --floor    # what a batched seed costs at least

Each learning experiment is an (agent, env) preset of the command line, built exactly as
``stateful-rl train --env ENV --agent AGENT --seed S`` builds it (``EXPERIMENTS`` adds at
most an encoder choice), so the benchmark and the CLI run the same recipe. Each run
evaluates the kept model (best periodic evaluation) and the final policy on 100 fresh
episodes (seeds never used in training or periodic evaluation) and appends one JSON line
to ``--results`` (default ``docs/data/agents.jsonl``, kept in the repository with the table
it renders). On the memory tasks the reference policies play the same 100 seeds; the memory
score is ``(R - R_best_memoryless) / (R_bayes - R_best_memoryless)``. Run with ``torch`` at 1
thread (set here).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import yaml

import stateful_rl.envs  # noqa: F401  (registers the stateful_rl/... ids)
from stateful_rl.bench.common import MEMORY_REFERENCES, add_memory_scores
from stateful_rl.cli.config import RunConfig, parse_overrides, resolve_config
from stateful_rl.cli.training import build_agent
from stateful_rl.envs.reference_policies import memory_score, reference_means
from stateful_rl.report.results import add_results_arguments, recorded

FINAL_SEED = 10_000_000  # seeds of the 100 final evaluation episodes
N_FINAL = 100

# rl-baselines3-zoo's dqn.yml entry for CartPole-v1 (n_timesteps 5e4).
ZOO_CARTPOLE: dict[str, Any] = {
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1000,
    "gamma": 0.99,
    "target_update_interval": 10,
    "train_freq": 256,
    "gradient_steps": 128,
    "exploration_fraction": 0.16,
    "exploration_final_eps": 0.04,
    "net_arch": (256, 256),
}
NOVEL = "stateful_rl/CartPoleNoVel-v0"
RECURRENT_NOVEL: dict[str, Any] = {"encoder_kwargs": {"hidden_size": 128}}
NOVEL_SCHEDULE = {"train_freq": 8, "exploration_fraction": 0.05}

# name: (agent, env id, hyper-parameters over the preset's)
EXPERIMENTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "dqn-cartpole": ("dqn", "CartPole-v1", {}),
    "ddqn-cartpole": ("dqn", "CartPole-v1", {"double": True}),
    "rdqn-lstm-novel": ("recurrent-dqn", "stateful_rl/CartPoleNoVel-v0", {}),
    "rdqn-gru-novel": ("recurrent-dqn", "stateful_rl/CartPoleNoVel-v0", {"encoder": "gru"}),
}
for _task in ("catch", "tracking"):
    _env = f"stateful_rl/Occluded{_task.capitalize()}-v1"
    EXPERIMENTS[f"rdqn-gru-{_task}"] = ("recurrent-dqn", _env, {"encoder": "gru"})
    EXPERIMENTS[f"rdqn-lstm-{_task}"] = ("recurrent-dqn", _env, {"encoder": "lstm"})
    EXPERIMENTS[f"esn-dqn-{_task}"] = ("esn-dqn", _env, {})
    EXPERIMENTS[f"dqn-{_task}"] = ("dqn", _env, {})


def experiment_config(name: str, seed: int) -> RunConfig:
    """The run config of experiment ``name``: ``stateful-rl train --env ENV --agent AGENT
    --seed S`` (and ``--encoder`` where the experiment names one) builds the same."""
    agent_name, env_id, extra = EXPERIMENTS[name]
    flags = {"env": env_id, "agent": agent_name, "seed": seed}
    return resolve_config(overrides={"hyperparams": extra}, flags=flags)


def run_learning(
    name: str, seed: int, steps: int | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train one experiment with one seed (``steps`` overrides the preset's env steps,
    ``overrides`` its hyper-parameters); evaluate the kept and final models on 100 fresh
    episodes."""
    config = experiment_config(name, seed)
    config.hyperparams.update(overrides or {})
    if steps is not None:
        config.steps = steps
    env_id = config.env
    agent = build_agent(config)
    cpu = time.process_time()
    start = time.perf_counter()
    agent.learn(config.steps)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    seeds = FINAL_SEED + np.arange(N_FINAL)
    final = float(agent.evaluate(seeds)[0].mean())
    agent.restore_best()
    kept = float(agent.evaluate(seeds)[0].mean())
    result = {
        "experiment": name, "seed": seed, "env": env_id, "steps": config.steps, "final": final,
        "kept": kept, "kept_step": agent.best_step, "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1), "overrides": overrides or {},
        "curve": [(s, round(m, 2)) for s, m, _ in agent.eval_history],
    }  # fmt: skip
    if env_id.startswith("stateful_rl/Occluded"):
        references = reference_means(
            env_id, N_FINAL, FINAL_SEED, policies=MEMORY_REFERENCES, **config.env_kwargs
        )
        add_memory_scores(result, references)
    return result


def markdown_row(cells: list[Any], header: bool = False) -> None:
    """Print one markdown table row (and the separator after a header)."""
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)
    if header:
        print("|" + "---|" * len(cells))


def print_table(results_path: Path) -> None:
    """Markdown table: per experiment, env steps and overrides, kept/final per seed, how many
    reach 475 (CartPole) and on the memory tasks the memory score and how far the kept model
    got from random to the best memoryless policy; then each memory task's references."""
    rows = defaultdict(list)
    references: dict[str, dict[str, float]] = {}
    for line in results_path.read_text().splitlines():
        r = json.loads(line)
        rows[r["experiment"], r["steps"], json.dumps(r.get("overrides", {}))].append(r)
        if "references" in r:
            references[r["env"]] = r["references"]
    print("Each row: `python -m stateful_rl.bench.agents learn EXPERIMENT --seeds ...` (with "
          "`--steps` and `--set KEY=VALUE` where the row shows them), the command line's preset "
          "for that env and agent, scored on 100 fresh episodes.\n")  # fmt: skip
    markdown_row(["experiment", "steps", "overrides", "seeds", "kept (100 ep.)", "final (100 ep.)",
                  "kept ≥ 475", "final ≥ 475", "memory score kept / final",
                  "feed-forward kept: % of the way random → best memoryless", "CPU s"],
                 header=True)  # fmt: skip
    for (name, steps, overrides), rs in rows.items():
        kept = " ".join(f"{r['kept']:.3g}" for r in rs)
        final = " ".join(f"{r['final']:.3g}" for r in rs)
        cartpole = "CartPole" in rs[0]["env"]
        n_kept = f"{sum(r['kept'] >= 475 for r in rs)}/{len(rs)}" if cartpole else "–"
        n_final = f"{sum(r['final'] >= 475 for r in rs)}/{len(rs)}" if cartpole else "–"
        mem = " ".join(
            f"{r['memory_score_kept']:.2f}/{r['memory_score_final']:.2f}"
            for r in rs
            if "memory_score_kept" in r
        )
        way = " ".join(
            f"{memory_score(r['kept'], ref['random'], ref['best_memoryless']):.1%}"
            for r in rs
            if (ref := r.get("references")) and EXPERIMENTS.get(name, ("",))[0] == "dqn"
        )
        cpu = " ".join(f"{r['cpu_s']:.0f}" for r in rs if "cpu_s" in r)
        overrides = "" if overrides == "{}" else overrides
        seeds = f"{len(rs)} (" + ", ".join(str(r["seed"]) for r in rs) + ")"
        markdown_row([name, steps, overrides, seeds, kept, final, n_kept, n_final, mem, way, cpu])
    if references:
        print("\nReference policies on the same 100 fresh episodes (memory score 0 = best "
              "memoryless, 1 = Bayes; the Bayes reference is the exact filter on catch, a "
              "particle filter on tracking: see the memory-gap section):\n")  # fmt: skip
        markdown_row(["env", "random", "best memoryless", "Bayes"], header=True)
        for env, ref in references.items():
            markdown_row([env, *(f"{ref[p]:.4g}" for p in ("random", "best_memoryless", "bayes"))])


def _timed(make: Any, steps: int) -> tuple[float, float, int]:
    """Env steps per wall and per CPU second of one fresh training of ``steps`` env steps
    (SB3 ends at a whole rollout of ``train_freq`` steps: it may do a few more); updates."""
    model = make()
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(steps)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return model.num_timesteps / wall, model.num_timesteps / cpu, getattr(model, "_n_updates", -1)


def novel_recurrent_dqn(**kwargs: Any) -> Any:
    """RecurrentDQN (LSTM 128) on 8 synchronous CartPoleNoVel-v0 envs, seed 0, CPU."""
    from stateful_rl.agents import RecurrentDQN

    env = gym.make_vec(NOVEL, 8, vectorization_mode="sync")
    return RecurrentDQN(env, seed=0, device="cpu", **RECURRENT_NOVEL, **kwargs)


def print_threads_table(
    repeats: int, dqn_steps: int = 20_480, recurrent_steps: int = 10_000
) -> None:
    """Wall-clock steps/s of the same training at one torch thread (the agents' default) and
    at one per core (torch's own default), interleaved, best of ``repeats``: what the default
    buys on this machine at its current load (printed)."""
    from stateful_rl.agents import DQN

    cores = os.cpu_count() or 1
    cases = [
        ("DQN, rl-zoo CartPole settings", dqn_steps,
         lambda t: DQN("CartPole-v1", seed=0, device="cpu", threads=t, **ZOO_CARTPOLE)),
        ("RecurrentDQN LSTM 128, 8 envs, CartPoleNoVel-v0, update every 8 env steps",
         recurrent_steps, lambda t: novel_recurrent_dqn(threads=t, **NOVEL_SCHEDULE)),
    ]  # fmt: skip
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"best of {repeats}, thread counts interleaved; {cores} cores; load average at start "
          f"{load}")  # fmt: skip
    markdown_row(["case", "steps", "torch threads", "steps/s (wall / CPU)",
                  f"1 thread ÷ {cores} threads (wall)"], header=True)  # fmt: skip
    for name, steps, make in cases:
        if steps == 0:
            continue
        runs = [[_timed(partial(make, t), steps) for t in (1, cores)] for _ in range(repeats)]
        one, many = ([max(r[side][k] for r in runs) for k in range(2)] for side in (0, 1))
        for t, (wall, cpu) in ((1, one), (cores, many)):
            ratio = f"{one[0] / many[0]:.2f}x" if t == cores else ""
            markdown_row([name, steps, t, f"{wall:.0f} / {cpu:.0f}", ratio])


def print_speed_table(repeats: int, dqn_steps: int = 20_480, recurrent_steps: int = 10_000) -> None:
    """Steps/s of ours and the SB3 peers, same process, interleaved, torch 1 thread.

    ``dqn_steps`` should be a multiple of 256 (rl-zoo ``train_freq``): then SB3 and ours
    collect the same steps and make the same number of updates."""
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import DQN as SB3DQN
    from stable_baselines3.common.env_util import make_vec_env

    from stateful_rl.agents import DQN

    zoo_sb3 = {k: v for k, v in ZOO_CARTPOLE.items() if k != "net_arch"}
    zoo_sb3["policy_kwargs"] = {"net_arch": list(ZOO_CARTPOLE["net_arch"])}

    def recurrent_ppo() -> RecurrentPPO:
        return RecurrentPPO("MlpLstmPolicy", make_vec_env(NOVEL, 8, seed=0), seed=0, device="cpu")

    cases = [
        ("DQN, rl-zoo CartPole settings", dqn_steps,
         lambda: DQN("CartPole-v1", seed=0, device="cpu", **ZOO_CARTPOLE),
         lambda: SB3DQN("MlpPolicy", "CartPole-v1", seed=0, device="cpu", **zoo_sb3)),
        ("DQN, SB3 defaults", dqn_steps,
         lambda: DQN("CartPole-v1", seed=0, device="cpu"),
         lambda: SB3DQN("MlpPolicy", "CartPole-v1", seed=0, device="cpu")),
        ("RecurrentDQN LSTM 128 vs RecurrentPPO (8 envs)", recurrent_steps,
         novel_recurrent_dqn, recurrent_ppo),
        ("same, rdqn-lstm-novel's learning schedule (update every 8 env steps)", recurrent_steps,
         lambda: novel_recurrent_dqn(**NOVEL_SCHEDULE), recurrent_ppo),
    ]  # fmt: skip
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"best of {repeats}, ours and peer interleaved; CPU = process time (robust to other "
          f"load on the machine); load average at start {load}")  # fmt: skip
    markdown_row(["case", "steps", "ours steps/s (wall / CPU)", "peer steps/s (wall / CPU)",
                  "ratio wall", "ratio CPU", "updates ours / peer"], header=True)  # fmt: skip
    for name, steps, ours, peer in cases:
        if steps == 0:
            continue
        runs = [(_timed(ours, steps), _timed(peer, steps)) for _ in range(repeats)]
        (o_wall, o_cpu, o_upd), (p_wall, p_cpu, p_upd) = (
            [max(r[side][k] for r in runs) for k in range(3)] for side in (0, 1)
        )
        markdown_row([name, steps, f"{o_wall:.0f} / {o_cpu:.0f}", f"{p_wall:.0f} / {p_cpu:.0f}",
                      f"{o_wall / p_wall:.2f}x", f"{o_cpu / p_cpu:.2f}x",
                      f"{o_upd} / {p_upd}"])  # fmt: skip


def _cpu_seconds(run: Any) -> float:
    """CPU seconds (this process, all threads) of ``run()``."""
    start = time.process_time()
    run()
    return time.process_time() - start


def print_seed_batch_table(
    repeats: int, n_seeds: int = 8, dqn_steps: int = 20_480, nfq_steps: int = 3_000
) -> None:
    """CPU seconds of ``n_seeds`` seeds trained together (:func:`train_seeds`) against the same
    seeds trained one after another by our single-seed agents and by SB3's DQN; same
    process, torch 1 thread, the three orders rotated between repeats, best of ``repeats``
    each. Ratios are throughput ratios (sequential seconds / batched seconds)."""
    from stable_baselines3 import DQN as SB3DQN

    from stateful_rl.agents import DQN, NFQ
    from stateful_rl.agents.seed_batch import train_seeds

    seeds = list(range(n_seeds))
    zoo_sb3 = {k: v for k, v in ZOO_CARTPOLE.items() if k != "net_arch"}
    zoo_sb3["policy_kwargs"] = {"net_arch": list(ZOO_CARTPOLE["net_arch"])}

    def dqn(seed: int) -> DQN:
        return DQN("CartPole-v1", seed=seed, device="cpu", **ZOO_CARTPOLE)

    def nfq(seed: int) -> NFQ:
        return NFQ("CartPole-v1", seed=seed, device="cpu", objective="reward")

    def one_after_another(make: Any, steps: int) -> Any:
        return lambda: [make(seed).learn(steps) for seed in seeds]

    cases = {
        "DQN": (dqn_steps, {
            "together": lambda: train_seeds(dqn, seeds, dqn_steps),
            "ours, one after another": one_after_another(dqn, dqn_steps),
            "SB3, one after another": one_after_another(
                lambda seed: SB3DQN("MlpPolicy", "CartPole-v1", seed=seed, device="cpu",
                                    **zoo_sb3), dqn_steps),
        }),
        "NFQ": (nfq_steps, {
            "together": lambda: train_seeds(nfq, seeds, nfq_steps),
            "ours, one after another": one_after_another(nfq, nfq_steps),
        }),
    }  # fmt: skip
    # first calls pay lazy imports and initialisations: not timed
    train_seeds(lambda seed: DQN("CartPole-v1", seed=seed, device="cpu"), [0, 1], 300)
    train_seeds(lambda seed: NFQ("CartPole-v1", seed=seed, device="cpu", epochs=5), [0, 1], 100)
    SB3DQN("MlpPolicy", "CartPole-v1", seed=0, device="cpu", learning_starts=100).learn(300)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{n_seeds} seeds, best of {repeats}, CPU seconds (process time, torch 1 thread); "
          f"load average at start {load}")  # fmt: skip
    markdown_row(["agent (CartPole-v1)", "env steps per seed", "run", "CPU s",
                  "together vs this (throughput)"], header=True)  # fmt: skip
    for name, (steps, runs) in cases.items():
        if steps == 0:
            continue
        best: dict[str, float] = {}
        for repeat in range(repeats):
            order = list(runs)[repeat % len(runs) :] + list(runs)[: repeat % len(runs)]
            for label in order:
                best[label] = min(best.get(label, math.inf), _cpu_seconds(runs[label]))
        for label, seconds in best.items():
            ratio = "" if label == "together" else f"{seconds / best['together']:.2f}x"
            markdown_row([name, steps, label, f"{seconds:.1f}", ratio])
        if "SB3, one after another" in best:
            single = best["SB3, one after another"] / best["ours, one after another"]
            markdown_row([name, steps, "single seed: ours vs SB3", "", f"{single:.2f}x"])
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at end {load}")


def print_seed_batch_floor(n_seeds: int = 8, steps: int = 20_480) -> None:
    """What a seed of the batched DQN case costs at least, in CPU seconds: its collection
    (acting, env steps and replay, measured as a run whose updates never start) and the
    arithmetic of its updates (its share of the stacked network's products for the rl-zoo
    schedule: every update's forward and backward at batch 64, and each phase's target
    network on the expected number of distinct bootstrap observations), against what one
    seed trained alone costs. Together, ``n_seeds`` seeds cannot beat ``n_seeds`` times the
    first two without sharing collection work between seeds."""
    from stateful_rl.agents import DQN
    from stateful_rl.encoders.feedforward import StackedMLP

    cfg = ZOO_CARTPOLE
    alone = _cpu_seconds(lambda: DQN("CartPole-v1", seed=0, device="cpu", **cfg).learn(steps))
    no_updates = {**cfg, "learning_starts": steps + 1}
    collect = _cpu_seconds(
        lambda: DQN("CartPole-v1", seed=0, device="cpu", **no_updates).learn(steps)
    )
    agents = [DQN("CartPole-v1", seed=s, device="cpu", **cfg) for s in range(n_seeds)]
    net = StackedMLP([agent.q_net for agent in agents])
    obs_dim, n_actions = agents[0].obs_dim, agents[0].n_actions
    batch, phases = cfg["batch_size"], (steps - cfg["learning_starts"]) // cfg["train_freq"]
    x, grad = torch.randn(n_seeds, batch, obs_dim), torch.randn(n_seeds, batch, n_actions)
    sampled = batch * cfg["gradient_steps"]
    stored = cfg["learning_starts"] + cfg["train_freq"] * (1 + np.arange(phases))
    distinct = stored * -np.expm1(sampled * np.log1p(-1 / stored))  # E[distinct] of k draws

    def products() -> None:
        for rows in distinct.round().astype(int):
            net.forward(torch.randn(n_seeds, rows, obs_dim))
            for _ in range(cfg["gradient_steps"]):
                net.forward_train(x)
                net.backward(grad)

    arithmetic = _cpu_seconds(products) / n_seeds
    print(f"DQN, rl-zoo CartPole settings, {steps} env steps; CPU seconds per seed (process "
          f"time, torch 1 thread); products stacked over {n_seeds} seeds, load average "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()) + "\n")  # fmt: skip
    markdown_row(["cost of one seed", "CPU s"], header=True)
    markdown_row(["trained alone", f"{alone:.1f}"])
    markdown_row(["collection only (acting, env, replay)", f"{collect:.1f}"])
    markdown_row(["its updates' products, stacked", f"{arithmetic:.1f}"])
    markdown_row(["collection + products (the floor of a batched seed)",
                  f"{collect + arithmetic:.1f}"])  # fmt: skip
    markdown_row(["best speed-up of seeds together over seeds alone",
                  f"{alone / (collect + arithmetic):.2f}x"])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    learn = sub.add_parser("learn", help="train experiments with several seeds")
    learn.add_argument("experiments", nargs="+", choices=sorted(EXPERIMENTS))
    learn.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    learn.add_argument("--steps", type=int, help="env steps (default: the experiment's)")
    learn.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE",
        help='hyper-parameter overrides, e.g. gamma=0.95 encoder_kwargs=\'{"hidden_size": 32}\'',
    )  # fmt: skip
    sub.add_parser("table", help="print the stored results")
    show = sub.add_parser("print-config", help="an experiment's run config for a seed (YAML)")
    show.add_argument("experiment", choices=sorted(EXPERIMENTS))
    show.add_argument("--seed", type=int, default=0)
    speed = sub.add_parser("speed", help="steps/s against SB3 DQN and sb3-contrib RecurrentPPO")
    speed.add_argument("--repeats", type=int, default=3)
    speed.add_argument("--dqn-steps", type=int, default=20_480, help="0: skip the DQN cases")
    speed.add_argument("--recurrent-steps", type=int, default=10_000, help="0: skip")
    threads = sub.add_parser(
        "threads", help="one torch thread (the agents' default) against one per core"
    )
    threads.add_argument("--repeats", type=int, default=2)
    threads.add_argument("--dqn-steps", type=int, default=20_480, help="0: skip the DQN case")
    threads.add_argument("--recurrent-steps", type=int, default=10_000, help="0: skip")
    seeds = sub.add_parser(
        "seeds", help="seeds trained together against the same seeds one after another"
    )
    seeds.add_argument("--repeats", type=int, default=3)
    seeds.add_argument("--n-seeds", type=int, default=8)
    seeds.add_argument("--dqn-steps", type=int, default=20_480, help="0: skip the DQN case")
    seeds.add_argument("--nfq-steps", type=int, default=3_000, help="0: skip the NFQ case")
    seeds.add_argument(
        "--floor", action="store_true",
        help="instead: what a seed costs at least in the batched DQN case, in its parts",
    )  # fmt: skip
    parser.add_argument("--results", type=Path, default=Path("docs/data/agents.jsonl"))
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.command == "learn":
        args.results.parent.mkdir(parents=True, exist_ok=True)
        for name in args.experiments:
            for seed in args.seeds:
                result = run_learning(name, seed, args.steps, parse_overrides(args.set))
                print(json.dumps({k: v for k, v in result.items() if k != "curve"}), flush=True)
                with args.results.open("a") as f:
                    f.write(json.dumps(result) + "\n")
    if args.command in ("learn", "table"):
        with recorded(args.results_md, "agents", "Agents: learning results"):
            print_table(args.results)
    elif args.command == "print-config":
        config = experiment_config(args.experiment, args.seed)
        print(yaml.safe_dump(config.to_dict(), sort_keys=True), end="")
    elif args.command == "seeds" and args.floor:
        with recorded(args.results_md, "agents-seeds-floor", "Agents: the floor of a batched seed"):
            print_seed_batch_floor(args.n_seeds, args.dqn_steps)
    elif args.command == "seeds":
        with recorded(args.results_md, "agents-seeds", "Agents: seeds trained together"):
            print_seed_batch_table(args.repeats, args.n_seeds, args.dqn_steps, args.nfq_steps)
    elif args.command == "threads":
        with recorded(args.results_md, "agents-threads", "Agents: torch threads"):
            print_threads_table(args.repeats, args.dqn_steps, args.recurrent_steps)
    else:
        with recorded(args.results_md, "agents-speed", "Agents: speed against SB3"):
            print_speed_table(args.repeats, args.dqn_steps, args.recurrent_steps)


if __name__ == "__main__":
    main()
