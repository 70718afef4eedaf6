"""Recurrent DQN against a tuned RecurrentPPO: solved seeds and CPU time to solve.

Each (method, env, seed) trains in its own process (CPU time is that process's
``time.process_time``, evaluations included) with the same evaluation protocol on both
sides: every ``eval_freq`` env steps, ``n_eval_episodes`` episodes with seeds from the same
stream (the agents' own ``seed + 1 000 000 + k``), the best evaluation's model kept, and at
the end the kept model scored on 100 fresh episodes. ``eval_freq``, ``n_eval_episodes`` and
the env steps are our preset's for the env, used for the peer too. On the memory envs
"solved" means the memory score in the env's ``ENVS`` entry (between the best
memoryless policy and the Bayes filter, both scored on the same 100 fresh episodes as the
kept model); the table gives the kept model's memory score and each method's memory score
at equal CPU time (its last evaluation within the faster method's median run time).

- ours: the recurrent-dqn preset for the env, built exactly as ``stateful-rl train --env ENV
  --agent recurrent-dqn --seed S`` builds it (``print-config`` prints it for comparison);
- rppo: sb3-contrib's RecurrentPPO with rl-baselines3-zoo's tuned ``ppo_lstm`` settings
  where the zoo has them (CartPoleNoVel-v1: the same task as our CartPoleNoVel-v0), else
  those in ``PEER_SETTINGS`` (which says where they are not tuned for the env).

    python -m stateful_rl.bench.race run --method ours --env stateful_rl/CartPoleNoVel-v0 --seed 0
    python -m stateful_rl.bench.race all --envs stateful_rl/CartPoleNoVel-v0 --jobs 2
    python -m stateful_rl.bench.race table --results docs/data/race.jsonl
    python -m stateful_rl.bench.race all --envs popgym-RepeatPreviousEasy-v0 \
        --results docs/data/race-popgym.jsonl   # its own section, "race-popgym"
    python -m stateful_rl.bench.race all --envs stateful_rl/OccludedCatch-v1 \
        --results docs/data/race-memory.jsonl
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np
import torch

from stateful_rl.agents.evaluation import evaluate_episodes, make_eval_vector_env
from stateful_rl.bench.common import MEMORY_REFERENCES, add_memory_scores
from stateful_rl.cli.config import merge, parse_overrides, resolve_config
from stateful_rl.cli.training import build_agent
from stateful_rl.envs.reference_policies import memory_score, reference_means
from stateful_rl.report.results import add_results_arguments, recorded

FINAL_SEED = 10_000_000  # the 100 fresh episodes that score the kept model
N_FINAL = 100
EVAL_SEED_OFFSET = 1_000_000  # as BaseAgent: evaluation k uses seed + 1e6 + k * n + i


class RaceEnv(NamedTuple):
    """An env of the race: the packages that register it, and when a run counts as solved:
    at a mean evaluation return of ``solved_at``, or (``memory_env``) at a memory score of
    ``solved_at``. Both methods train for our preset's env steps."""

    imports: tuple[str, ...]
    solved_at: float
    memory_env: bool = False


ENVS: dict[str, RaceEnv] = {
    "stateful_rl/CartPoleNoVel-v0": RaceEnv((), 475.0),
    # Catch has an exact Bayes filter that a recurrent agent can nearly match; on tracking (a
    # particle filter's score) the recurrent presets keep 0.7-0.73 after 300k env steps, so
    # half the memory gap is its mark.
    "stateful_rl/OccludedCatch-v1": RaceEnv((), 0.9, memory_env=True),
    "stateful_rl/OccludedTracking-v1": RaceEnv((), 0.5, memory_env=True),
    "popgym-PositionOnlyCartPoleEasy-v0": RaceEnv(("popgym",), 0.95),
    "popgym-RepeatPreviousEasy-v0": RaceEnv(("popgym",), 0.95),
}
ZOO_CARTPOLE_NOVEL: dict[str, Any] = {  # rl-baselines3-zoo hyperparams/ppo_lstm.yml
    "n_envs": 8, "normalize": True, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8,
    "gamma": 0.98, "n_epochs": 20, "ent_coef": 0.0, "learning_rate": "lin_1e-3",
    "clip_range": "lin_0.2",
    "policy_kwargs": {"ortho_init": False, "activation_fn": "relu", "lstm_hidden_size": 64,
                      "enable_critic_lstm": True, "net_arch": {"pi": [64], "vf": [64]}},
}  # fmt: skip
PEER_SETTINGS: dict[str, dict[str, Any]] = {
    "stateful_rl/CartPoleNoVel-v0": ZOO_CARTPOLE_NOVEL,
    "popgym-PositionOnlyCartPoleEasy-v0": ZOO_CARTPOLE_NOVEL,  # the same task, POPGym's scale
    # The zoo's recurrent CartPole settings with gamma 0.5 (as our preset: the action never
    # changes what is seen next): the best of one-seed tries (seed 0, CPU s to solve: as zoo
    # 112, lin_3e-3 58, gamma 0.5 41); its observations are Discrete (one-hot in SB3's
    # policy), nothing to normalise.
    "popgym-RepeatPreviousEasy-v0": {**ZOO_CARTPOLE_NOVEL, "normalize": False, "gamma": 0.5},
    # The zoo's recurrent CartPole settings with a larger step size: the best of one-seed
    # tries (seed 0, memory score of the kept model: as zoo 0.45, lin_3e-3 0.64, ent_coef
    # 0.01 0.44, gae_lambda 0.95 with gamma 0.99 0.21); not tuned further.
    "stateful_rl/OccludedCatch-v1": {**ZOO_CARTPOLE_NOVEL, "learning_rate": "lin_3e-3"},
    # The zoo's recurrent CartPole settings (the race's rows). One-seed tries (seed 0, memory
    # score of the kept model): as zoo 0.04, lin_3e-3 0.06, gamma 0.95 0.19; not tuned further.
    "stateful_rl/OccludedTracking-v1": ZOO_CARTPOLE_NOVEL,
}


def import_for(env_id: str) -> None:
    for module in ENVS[env_id].imports:
        __import__(module)


def ours_config(env_id: str, seed: int) -> Any:
    """The run config ``stateful-rl train --env ENV --agent recurrent-dqn --seed S`` uses."""
    import_for(env_id)
    return resolve_config(flags={"env": env_id, "agent": "recurrent-dqn", "seed": seed})


def linear(text: str | float) -> Any:
    """rl-zoo's ``lin_<x>``: a schedule from x to 0 over training (SB3's progress 1 -> 0)."""
    if isinstance(text, str) and text.startswith("lin_"):
        start = float(text[4:])
        return lambda progress: progress * start
    return text


class Race:
    """Evaluation protocol and bookkeeping shared by both methods."""

    def __init__(self, env_id: str, seed: int, eval_freq: int, n_eval: int) -> None:
        self.env_id, self.seed, self.eval_freq, self.n_eval = env_id, seed, eval_freq, n_eval
        race_env = ENVS[env_id]
        self.threshold = race_env.solved_at
        self.references: dict[str, float] | None = None
        if race_env.memory_env:  # the references on the scoring episodes set the threshold
            self.references = reference_means(
                env_id, N_FINAL, FINAL_SEED, policies=MEMORY_REFERENCES
            )
            low, high = self.references["best_memoryless"], self.references["bayes"]
            self.threshold = low + race_env.solved_at * (high - low)
        self.cpu0 = time.process_time()  # after the references: they are not training
        self.curve: list[tuple[int, float, float]] = []  # (env step, CPU s, mean return)
        self.best = -np.inf
        self.best_state: Any = None

    def seeds(self, k: int) -> np.ndarray:
        return self.seed + EVAL_SEED_OFFSET + k * self.n_eval + np.arange(self.n_eval)

    def record(self, step: int, mean: float, state: Any) -> None:
        self.curve.append((step, time.process_time() - self.cpu0, mean))
        if mean > self.best:
            self.best, self.best_state = mean, state

    def result(self, method: str, final: float, kept: float) -> dict[str, Any]:
        solved = [cpu for _, cpu, mean in self.curve if mean >= self.threshold]
        result = {
            "method": method, "env": self.env_id, "seed": self.seed,
            "threshold": self.threshold, "cpu_to_solve": solved[0] if solved else None,
            "cpu_total": time.process_time() - self.cpu0, "kept": kept, "final": final,
            "steps": self.curve[-1][0] if self.curve else 0,
            "curve": [(s, round(c, 1), round(m, 3)) for s, c, m in self.curve],
        }  # fmt: skip
        if self.references is not None:
            add_memory_scores(result, self.references)
        return result


def run_ours(
    env_id: str, seed: int, steps: int | None = None, overrides: list[str] | None = None
) -> dict[str, Any]:
    config = ours_config(env_id, seed)
    if steps is not None:  # a shortened run (smoke tests), not the preset's
        config.steps = steps
    config.hyperparams.update(parse_overrides(overrides or []))  # a candidate recipe
    agent = build_agent(config)
    race = Race(env_id, seed, agent.config.eval_freq, agent.config.n_eval_episodes)
    seen = [0]

    def watch(local_vars: dict, global_vars: dict) -> bool:
        history = agent.eval_history
        if len(history) > seen[0]:  # the agent evaluated (its own protocol, same as peer's)
            seen[0] = len(history)
            step, mean, _ = history[-1]
            race.record(step, mean, None)
        return True

    agent.learn(config.steps, callback=watch)
    if len(agent.eval_history) > seen[0]:
        step, mean, _ = agent.eval_history[-1]
        race.record(step, mean, None)
    fresh = FINAL_SEED + np.arange(N_FINAL)
    final = float(agent.evaluate(fresh)[0].mean())
    agent.restore_best()
    kept = float(agent.evaluate(fresh)[0].mean())
    return race.result("ours", final, kept)


class NormalizedPredictor:
    """A RecurrentPPO seen through its VecNormalize statistics (frozen for evaluation)."""

    def __init__(self, model: Any, normalizer: Any) -> None:
        self.model, self.normalizer = model, normalizer

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        if self.normalizer is not None:
            obs = self.normalizer.normalize_obs(obs)
        return self.model.predict(obs, state, episode_start, deterministic)


def run_peer(
    env_id: str, seed: int, steps: int | None = None, overrides: list[str] | None = None
) -> dict[str, Any]:
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    import_for(env_id)
    ours = ours_config(env_id, seed)
    settings = merge(PEER_SETTINGS[env_id], parse_overrides(overrides or []))  # a copy
    n_envs, normalize = settings.pop("n_envs"), settings.pop("normalize")
    kwargs = settings.pop("policy_kwargs")
    kwargs["activation_fn"] = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[
        kwargs["activation_fn"]
    ]
    env = make_vec_env(env_id, n_envs, seed=seed)
    normalizer = VecNormalize(env, gamma=settings["gamma"]) if normalize else None
    model = RecurrentPPO(
        "MlpLstmPolicy", normalizer or env, seed=seed, device="cpu", policy_kwargs=kwargs,
        **{k: linear(v) for k, v in settings.items()},
    )  # fmt: skip
    race = Race(env_id, seed, ours.hyperparams["eval_freq"], ours.hyperparams["n_eval_episodes"])
    make_env = lambda: gym.make(env_id)  # noqa: E731
    eval_env = make_eval_vector_env(make_env, min(race.n_eval, 32))

    def evaluate(seeds: np.ndarray) -> float:
        if normalizer is not None:
            normalizer.training = False
        predictor = NormalizedPredictor(model, normalizer)
        returns, _ = evaluate_episodes(predictor, make_env, seeds, True, 32, eval_env
                                       if len(seeds) == eval_env.num_envs else None)  # fmt: skip
        if normalizer is not None:
            normalizer.training = True
        return float(returns.mean())

    class Evaluations(BaseCallback):
        def _on_step(self) -> bool:
            k = len(race.curve)
            if self.num_timesteps >= (k + 1) * race.eval_freq:
                snapshot = (copy.deepcopy(model.policy.state_dict()),
                            copy.deepcopy(normalizer.obs_rms) if normalizer else None)  # fmt: skip
                race.record(self.num_timesteps, evaluate(race.seeds(k)), snapshot)
            return True

    model.learn(steps or ours.steps, callback=Evaluations())
    if not race.curve or race.curve[-1][0] != model.num_timesteps:  # as ours: a last one
        snapshot = (copy.deepcopy(model.policy.state_dict()),
                    copy.deepcopy(normalizer.obs_rms) if normalizer else None)  # fmt: skip
        race.record(model.num_timesteps, evaluate(race.seeds(len(race.curve))), snapshot)
    fresh = FINAL_SEED + np.arange(N_FINAL)
    final = evaluate(fresh)
    if race.best_state is not None:
        model.policy.load_state_dict(race.best_state[0])
        if normalizer is not None:
            normalizer.obs_rms = race.best_state[1]
    kept = evaluate(fresh)
    return race.result("rppo", final, kept)


def median_interval(values: list[float], draws: int = 10_000) -> tuple[float, float, float]:
    """Median and a 95 % bootstrap percentile interval (inf stands for "not solved")."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(data, (draws, len(data))), axis=1)
    with np.errstate(invalid="ignore"):  # between two infs the interpolation gives nan
        low, high = np.nan_to_num(np.percentile(medians, [2.5, 97.5]), nan=np.inf, posinf=np.inf)
    return float(np.median(data)), float(low), float(high)


def seconds(t: float) -> str:
    """CPU seconds to solve as a table shows them ("–": not solved)."""
    return "–" if t == np.inf else f"{t:.0f}"


def print_table(results: Path) -> None:
    rows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for line in results.read_text().splitlines():
        r = json.loads(line)
        rows[r["env"], r["method"]].append(r)
    print("| env | method | seeds | kept ≥ threshold on 100 fresh episodes | kept returns "
          "(memory score) | "
          "CPU s to first evaluation ≥ threshold: median [95 % interval] | per seed | "
          "CPU s of the whole run (median) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    references = {
        r["env"]: r["references"] for rs in rows.values() for r in rs if "references" in r
    }
    for (env_id, method), rs in sorted(rows.items()):
        rs.sort(key=lambda r: r["seed"])
        solved = sum(r["kept"] >= r["threshold"] for r in rs)
        times = [r["cpu_to_solve"] if r["cpu_to_solve"] is not None else np.inf for r in rs]
        median, low, high = median_interval(times)
        per_seed = ", ".join(seconds(t) for t in times)
        kept = ", ".join(
            f"{r['kept']:.4g}" + (f" ({r['memory_score_kept']:.2f})" if "references" in r else "")
            for r in rs
        )
        total = float(np.median([r["cpu_total"] for r in rs]))
        interval = f"{seconds(median)} [{seconds(low)}, {seconds(high)}]"
        print(f"| {env_id} | {method} | {len(rs)} | {solved}/{len(rs)} | {kept} | {interval} | "
              f"{per_seed} | {total:.0f} |")  # fmt: skip
    for env_id, ref in sorted(references.items()):
        print(f"\n{env_id}: threshold at memory score {ENVS[env_id].solved_at} between "
              f"the best memoryless policy ({ref['best_memoryless']:.4g}) and the Bayes filter "
              f"({ref['bayes']:.4g}) on the 100 scoring episodes (random "
              f"{ref['random']:.4g}).")  # fmt: skip
        runs = {method: rs for (env, method), rs in sorted(rows.items()) if env == env_id}
        if len(runs) > 1:
            print_equal_cpu(runs, ref)


def print_equal_cpu(runs: dict[str, list[dict[str, Any]]], ref: dict[str, float]) -> None:
    """Each method's memory score at the same CPU time: that of the last evaluation within
    the first ``budget`` CPU seconds of each run, where ``budget`` is the smaller of the
    methods' median whole-run CPU (the slower method is cut where the faster one ended)."""
    budget = min(float(np.median([r["cpu_total"] for r in rs])) for rs in runs.values())
    parts = []
    for method, rs in runs.items():
        scores = []
        for r in rs:
            means = [mean for _, cpu, mean in r["curve"] if cpu <= budget]
            if means:
                scores.append(memory_score(means[-1], ref["best_memoryless"], ref["bayes"]))
        per_seed = ", ".join(f"{x:.2f}" for x in scores)
        median = f"{np.median(scores):.2f}" if scores else "–"
        parts.append(f"{method} {median} ({per_seed})")
    print(f"\nAt equal CPU time ({budget:.0f} s of each run), the memory score of the last "
          f"evaluation, median (per seed): {'; '.join(parts)}.")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one method, env and seed (JSON line on stdout)")
    run.add_argument("--method", choices=("ours", "rppo"), required=True)
    run.add_argument("--env", required=True, choices=sorted(ENVS))
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--steps", type=int, help="shorter runs for a smoke test (not the preset)")
    run.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE",
        help="the method's hyper-parameters for a candidate recipe (not the preset's or "
        "PEER_SETTINGS')",
    )  # fmt: skip
    every = sub.add_parser("all", help="every method x env x seed, each in its own process")
    every.add_argument("--envs", nargs="+", default=sorted(ENVS), choices=sorted(ENVS))
    every.add_argument("--methods", nargs="+", default=["ours", "rppo"])
    every.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    every.add_argument("--jobs", type=int, default=2)
    sub.add_parser("table", help="the markdown table of the results file")
    show = sub.add_parser("print-config", help="our run config for an env and seed (YAML)")
    show.add_argument("--env", required=True, choices=sorted(ENVS))
    show.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=Path("docs/data/race.jsonl"))
    add_results_arguments(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.command == "run":
        if args.method == "ours":
            result = run_ours(args.env, args.seed, args.steps, args.set)
        else:
            result = run_peer(args.env, args.seed, args.steps, args.set)
        print(json.dumps(result), flush=True)
    elif args.command == "print-config":
        import yaml

        print(yaml.safe_dump(ours_config(args.env, args.seed).to_dict(), sort_keys=True), end="")
    elif args.command == "all":
        jobs = [(m, e, s) for e in args.envs for m in args.methods for s in args.seeds]
        args.results.parent.mkdir(parents=True, exist_ok=True)
        running: list[subprocess.Popen] = []
        while jobs or running:
            while jobs and len(running) < args.jobs:
                m, e, s = jobs.pop(0)
                command = [sys.executable, "-m", "stateful_rl.bench.race", "run",
                           "--method", m, "--env", e, "--seed", str(s)]  # fmt: skip
                running.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
            time.sleep(1)
            for proc in [p for p in running if p.poll() is not None]:
                running.remove(proc)
                out = proc.stdout.read().strip().splitlines()
                if proc.returncode == 0 and out:
                    with args.results.open("a") as f:
                        f.write(out[-1] + "\n")
                    print(out[-1][:200], flush=True)
    if args.command in ("all", "table"):
        # One section per results file: docs/data/race.jsonl -> "race", race-popgym -> ...
        title = "Race: recurrent DQN against RecurrentPPO" + (
            "" if args.results.stem == "race" else f" ({args.results.stem})"
        )
        with recorded(args.results_md, args.results.stem, title):
            print_table(args.results)


if __name__ == "__main__":
    main()
