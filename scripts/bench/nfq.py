"""NFQ results (issue 6): CartPole-v1, MountainCar-v0 with hint-to-goal, CartPoleNoVel-v0
(RecurrentNFQ next to feed-forward NFQ), DQN's sample efficiency beside NFQ's, fit time.

Protocol: the best model is kept by evaluating the greedy policy right after each fit
(``eval_freq``, as SB3's EvalCallback); evaluation episodes are never counted as collected.
"kept" and "final" are then scored on 100 fresh episodes (seeds 7 000 000 + i, used nowhere
else). MountainCar success is the fraction of 20 fixed start states (positions evenly
spaced in [−0.6, −0.4], velocity 0) from which the greedy policy reaches the goal before
the 200-step limit. Tasks:

- ``cartpole --variant paper|ensemble5|stop``: the paper's NFQ (5-5 sigmoid, Rprop 300
  epochs, refit, γ = 0.98, cost 0.01 outside |x| < 0.5, |θ| < 0.05, 1 at failure, one random
  then one greedy episode per iteration), 20 evaluation episodes per fit; ``ensemble5``
  acts with the mean Q of the last 5 fits; ``stop`` ends ``learn`` at the first
  evaluation >= 475 (the final policy is then the one evaluated).
- ``mountaincar``: cost 0.01 per step, hint-to-goal with 100 patterns in
  position [0.5, 0.6] × velocity [−0.07, 0.07]; stops at 90% success or 200 episodes.
- ``novel --agent nfq|esn-nfq|gru-nfq``: CartPoleNoVel-v0, reward form, evaluation every
  >= 2000 steps on 10 episodes, first evaluation >= 400.
- ``dqn``: our DQN with rl-baselines3-zoo's CartPole-v1 settings, evaluated every 1000 steps.
- ``fit-time``: wall and CPU seconds of one 300-epoch full-batch fit (2×64 net).

One thread; JSON lines per seed, a markdown table at the end, all rows to ``--out``.

    python -m stateful_rl.bench.nfq cartpole --seeds 0 1 2 3 4 --out runs/nfq_cartpole.json
    python -m stateful_rl.bench.nfq fit-time
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.agents import DQN
from stateful_rl.agents.nfq import NFQ
from stateful_rl.agents.replay import TransitionBatch
from stateful_rl.claims.agents import NOVEL_AGENTS, first_reaching, kept_and_final, run_novel
from stateful_rl.report.results import add_results_arguments, recorded


class CartPoleCost(gym.Wrapper):
    """The paper-style cost as −reward: 0 inside |x| < 0.5 m and |θ| < 0.05 rad, 0.01
    elsewhere, 1 at failure (termination); the env's own reward is in ``info["env_reward"]``."""

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        x, theta = self.env.unwrapped.state[0], self.env.unwrapped.state[2]
        cost = 1.0 if terminated else 0.0 if abs(x) < 0.5 and abs(theta) < 0.05 else 0.01
        return obs, -cost, terminated, truncated, {**info, "env_reward": reward}


class FixedStartSuccess(gym.Wrapper):
    """MountainCar from fixed start state ``seed mod len(starts)``; reward 1 on reaching the
    goal, so the mean evaluation return is the success rate."""

    def __init__(self, env: gym.Env, starts: np.ndarray) -> None:
        super().__init__(env)
        self.starts = starts

    def reset(self, *, seed=None, options=None):
        _, info = self.env.reset(seed=seed, options=options)
        start = self.starts[(seed or 0) % len(self.starts)]
        self.env.unwrapped.state = np.array([start, 0.0])
        return np.array([start, 0.0], dtype=np.float32), info

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, float(terminated), terminated, truncated, info


class StopRule(BaseCallback):
    """Stop ``learn`` once the latest evaluation reaches ``threshold`` (None: never) or
    ``max_episodes`` episodes were collected (None: no limit)."""

    def __init__(self, threshold: float | None = None, max_episodes: int | None = None) -> None:
        super().__init__()
        self.threshold, self.max_episodes = threshold, max_episodes

    def _on_step(self) -> bool:
        history = self.model.eval_history
        if self.threshold is not None and history and history[-1][1] >= self.threshold:
            return False
        return self.max_episodes is None or self.model.n_episodes < self.max_episodes


# ----------------------------------------------------------------------------- tasks
CARTPOLE_VARIANTS: dict[str, dict[str, Any]] = {
    "paper": {},
    "ensemble5": {"ensemble": 5},
    "stop": {},  # the paper's agent, learn stops at the first evaluation >= 475
}


def run_cartpole(seed: int, variant: str, steps: int) -> dict[str, Any]:
    agent = NFQ(
        CartPoleCost(gym.make("CartPole-v1")),
        seed=seed,
        eval_env="CartPole-v1",
        eval_freq=1,
        n_eval_episodes=20,
        **CARTPOLE_VARIANTS[variant],
    )
    callback = StopRule(475.0) if variant == "stop" else None
    agent.learn(steps, callback=callback)
    reached = first_reaching(agent.eval_history, 475.0)
    return {"collected": agent.num_timesteps, "first_475": reached, **kept_and_final(agent)}


def run_mountaincar(seed: int, max_episodes: int) -> dict[str, Any]:
    starts = np.linspace(-0.6, -0.4, 20)
    agent = NFQ(
        gym.wrappers.TransformReward(gym.make("MountainCar-v0"), lambda r: 0.01 * r),
        seed=seed,
        eval_env=lambda: FixedStartSuccess(gym.make("MountainCar-v0"), starts),
        eval_freq=1,
        n_eval_episodes=len(starts),
        hint_to_goal=100,
        goal_low=(0.5, -0.07),
        goal_high=(0.6, 0.07),
    )
    agent.learn(max_episodes * 200, callback=StopRule(0.9, max_episodes))
    success = max(mean for _, mean, _ in agent.eval_history)
    return {"episodes": agent.n_episodes, "collected": agent.num_timesteps, "success": success}


def run_dqn(seed: int, steps: int) -> dict[str, Any]:
    """DQN with rl-baselines3-zoo's CartPole-v1 settings, evaluated every 1000 steps."""
    agent = DQN(
        "CartPole-v1",
        seed=seed,
        eval_freq=1000,
        n_eval_episodes=20,
        learning_rate=2.3e-3,
        batch_size=64,
        buffer_size=100_000,
        learning_starts=1000,
        gamma=0.99,
        target_update_interval=10,
        train_freq=256,
        gradient_steps=128,
        exploration_fraction=0.16,
        exploration_final_eps=0.04,
        net_arch=(256, 256),
    )
    agent.learn(steps)
    return {"first_475": first_reaching(agent.eval_history, 475.0), **kept_and_final(agent)}


def fit_time(n: int, device: str) -> dict[str, float]:
    """Wall and CPU (process) seconds of one 300-epoch full-batch Rprop fit (2×64 tanh net,
    one output per action) on ``n`` CartPole-sized random transitions."""
    rng = np.random.default_rng(0)
    space = gym.spaces.Box(-5.0, 5.0, (4,), np.float32)
    agent = NFQ(
        None,
        observation_space=space,
        action_space=gym.spaces.Discrete(2),
        net_arch=(64, 64),
        activation="tanh",
        action_input=False,
        device=device,
        seed=0,
    )
    obs = rng.normal(size=(n, 4)).astype(np.float32)
    batch = TransitionBatch(
        obs=obs,
        actions=rng.integers(0, 2, n),
        returns=rng.random(n).astype(np.float32),
        next_obs=obs + 0.01,
        discounts=np.full(n, 0.98, dtype=np.float32),
    )
    wall, cpu = time.perf_counter(), time.process_time()
    agent.fit_batch(batch)
    if device == "cuda":
        torch.cuda.synchronize()
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


# ----------------------------------------------------------------------------- main
def write_json(path: Path, data: Any) -> None:
    """Atomic write (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def run_seeds(fn: Callable[[int], dict[str, Any]], seeds: list[int], label: str) -> list[dict]:
    rows = []
    for seed in seeds:
        start = time.perf_counter()
        row = {"what": label, "seed": seed, **fn(seed), "wall_s": 0.0}
        row["wall_s"] = round(time.perf_counter() - start, 1)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """The rows as a markdown table (columns: every key, in first-seen order)."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        cells = (f"{v:.4g}" if isinstance(v, float) else str(v) for v in (row.get(k) for k in keys))
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=["cartpole", "mountaincar", "novel", "dqn", "fit-time"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--variant", default="paper", choices=list(CARTPOLE_VARIANTS))
    parser.add_argument("--agent", default="esn-nfq", choices=list(NOVEL_AGENTS))
    parser.add_argument("--steps", type=int, default=None, help="collected transitions")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None)
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.task == "cartpole":
        steps = args.steps or 10_000
        fn = lambda s: run_cartpole(s, args.variant, steps)  # noqa: E731
        rows = run_seeds(fn, args.seeds, f"NFQ {args.variant} CartPole-v1")
    elif args.task == "mountaincar":
        rows = run_seeds(lambda s: run_mountaincar(s, 200), args.seeds, "NFQ MountainCar-v0")
    elif args.task == "novel":
        steps = args.steps or 100_000
        fn = lambda s: run_novel(s, args.agent, steps)  # noqa: E731
        rows = run_seeds(fn, args.seeds, f"{args.agent} CartPoleNoVel-v0")
    elif args.task == "dqn":
        rows = run_seeds(lambda s: run_dqn(s, args.steps or 50_000), args.seeds, "DQN CartPole-v1")
    else:
        rows = [
            {
                "what": "fit 300 epochs 2x64",
                "n": n,
                "device": args.device,
                **fit_time(n, args.device),
            }
            for n in args.sizes
        ]
    qualifier = {"cartpole": [args.variant], "novel": [args.agent]}.get(args.task, [])
    key = "-".join(["nfq", args.task, *qualifier])
    with recorded(args.results_md, key, f"NFQ: {' '.join([args.task, *qualifier])}"):
        print_table(rows)
    if args.out is not None:
        write_json(args.out, rows)


if __name__ == "__main__":
    main()
