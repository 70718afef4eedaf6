"""Explain a trained recurrent DQN on OccludedTracking-v0: LSTM LRP beside gradient×input and
integrated gradients, and how much relevance sits on the last visible observations while
the target is occluded.

    python -m stateful_rl.report.explain_agent train    # saves docs/saved_runs/rdqn_lstm_tracking/
    python -m stateful_rl.report.explain_agent explain   # figure docs/figures/explain_agent.png

``train`` fits a RecurrentDQN (LSTM, hidden 32) and, for comparison (seed claim 8), a
feed-forward Double DQN with the same budget, both seed 0, and saves the recurrent model
(a ~30 KB zip) and both learning curves and final scores (``--agents``: only some).
``explain`` loads the saved model, plays fresh episodes greedily and explains the chosen
action's Q-value at occluded steps.

Measured quantity: for a decision at an occluded step ``t`` whose occlusion began at ``s``,
the fraction of the total |relevance| over steps ``0..t`` that lies on the last ``K = 5``
visible steps before ``s`` (all features, and the target-observation features alone);
compared with the fraction those steps would get if relevance were spread evenly.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt
import numpy as np
import torch

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.agents import DQN, RecurrentDQN
from stateful_rl.agents.base import write_atomic
from stateful_rl.agents.explain import (
    METHODS,
    RecurrentQExplainer,
    explain_occluded_decisions,
    pick_decision,
    play_episode,
)
from stateful_rl.envs.reference_policies import memory_score, reference_means

ENV_ID = "stateful_rl/OccludedTracking-v0"
RUN_DIR = Path("docs/saved_runs/rdqn_lstm_tracking")
FIGURE = Path("docs/figures/explain_agent.png")
OBS_NAMES = ["tracker x", "seen target x", "visible flag"]
TARGET_FEATURES = (1, 2)  # what the agent sees of the target
LAST_VISIBLE = 5  # K: the last visible steps before an occlusion
SHOWN = 80  # steps drawn before the explained decision
FRESH_SEEDS = 10_000_000 + np.arange(100)  # final evaluation (as scripts/bench_agents.py)
EXPLAIN_SEED = 20_000_000  # episodes explained: seeds 20 000 000 + k
LABELS = {"lrp": "LRP (ε = 1e-3)", "gradient_x_input": "gradient × input",
          "integrated_gradients": "integrated gradients"}  # fmt: skip

RECURRENT = {"encoder": "lstm", "encoder_kwargs": {"hidden_size": 32}, "net_arch": (32,)}
FEED_FORWARD = {"double": True, "n_step": 3, "learning_rate": 5e-4, "learning_starts": 2000,
                "target_update_interval": 2000, "exploration_fraction": 0.2,
                "exploration_final_eps": 0.02, "normalize_obs": True}  # fmt: skip


# ---------------------------------------------------------------- training
AGENT_KINDS = {
    "recurrent": ("recurrent DQN (LSTM 32)", RecurrentDQN, RECURRENT),
    "feedforward": ("feed-forward Double DQN (64, 64)", DQN, FEED_FORWARD),
}


def reference_returns() -> dict[str, float]:
    """Mean return of every reference policy on the saved runs' fresh episodes."""
    return reference_means(ENV_ID, len(FRESH_SEEDS), int(FRESH_SEEDS[0]))


def train(kind: str, steps: int, seed: int, out: Path, n_envs: int = 8) -> dict[str, Any]:
    """Train one agent (``kind`` in :data:`AGENT_KINDS`) and add its curve and scores on
    100 fresh episodes to ``out/learning.json`` (with the reference policies' returns);
    the recurrent model is saved as ``out/model.zip``."""
    name, cls, kwargs = AGENT_KINDS[kind]
    env = gym.make_vec(ENV_ID, n_envs, vectorization_mode="vector_entry_point")
    agent = cls(env, seed=seed, eval_freq=5000, n_eval_episodes=20, **kwargs)
    start = time.perf_counter()
    agent.learn(steps)
    wall = time.perf_counter() - start
    final = float(agent.evaluate(FRESH_SEEDS)[0].mean())
    agent.restore_best()
    kept = float(agent.evaluate(FRESH_SEEDS)[0].mean())
    if cls is RecurrentDQN:
        agent.save(out / "model.zip")
    path = out / "learning.json"
    result = json.loads(path.read_text()) if path.exists() else {"env": ENV_ID, "agents": {}}
    result["references"] = refs = reference_returns()
    result["agents"][name] = {
        "recurrent": cls is RecurrentDQN, "steps": steps, "seed": seed, "wall_s": round(wall),
        "final": final, "kept": kept, "kept_step": agent.best_step,
        "curve": [list(row) for row in agent.eval_history],
        "memory_score_kept": memory_score(kept, refs["best_memoryless"], refs["bayes"]),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
    }  # fmt: skip
    write_atomic(path, json.dumps(result, indent=1).encode())
    return result["agents"][name]


# ---------------------------------------------------------------- explaining
def plot_explanation(
    explainer: RecurrentQExplainer, episode: dict[str, np.ndarray], t: int,
    summary: dict[str, Any], path: Path,
) -> None:  # fmt: skip
    """Episode on top, one time × feature heatmap per method, relevance per step below; the
    decision at ``t`` is explained from the episode start, the last ``SHOWN`` steps drawn."""
    obs = torch.as_tensor(episode["obs"][: t + 1, None])
    actions = torch.as_tensor(episode["action"][: t + 1, None])
    e = explainer.explain(obs, actions)
    first = max(t + 1 - SHOWN, 0)
    steps = np.arange(first, t + 1)
    hidden = ~episode["visible"][first : t + 1]
    totals = {m: float(r.abs().sum()) for m, r in e.relevance.items()}
    relevance = {m: r[first:, 0].numpy() for m, r in e.relevance.items()}  # [shown, D]
    fig, axes = plt.subplots(5, 1, figsize=(11, 12), sharex=True,
                             height_ratios=[1.3, 1, 1, 1, 1.1])  # fmt: skip
    ax = axes[0]
    ax.fill_between(steps, -1.1, 1.1, where=hidden, color="0.85", step="mid", label="occluded")
    ax.plot(steps, episode["target"][first : t + 1], "k", lw=2, label="target (true)")
    seen = np.where(hidden, np.nan, episode["obs"][first : t + 1, 1])
    ax.plot(steps, seen, "C2.", ms=4, label="target (observed)")
    ax.plot(steps, episode["obs"][first : t + 1, 0], "C0", label="tracker")
    ax.axvline(t, color="C3", lw=1.5)
    q = ", ".join(f"{v:.2f}" for v in e.q_values[0].tolist())
    ax.set(ylim=(-1.1, 1.1), ylabel="x",
           title=f"decision at step {t} (occluded): Q = [{q}], "
                 f"action {int(e.actions[0])} (0 left, 1 stay, 2 right)\nexplained from "
                 f"step 0, the last {len(steps)} steps shown")  # fmt: skip
    ax.legend(fontsize=7, ncol=4, loc="lower left")
    for ax, method in zip(axes[1:4], METHODS, strict=True):
        r = relevance[method].T  # [D, shown]
        lim = max(np.abs(r).max(), 1e-12)
        ax.imshow(r, aspect="auto", cmap="bwr", vmin=-lim, vmax=lim, interpolation="nearest",
                  extent=(first - 0.5, t + 0.5, len(r) - 0.5, -0.5))  # fmt: skip
        ax.set_yticks(range(len(r)), e.feature_names, fontsize=7)
        frac = summary[method]
        ax.set_title(
            f"{LABELS[method]}: on the last {LAST_VISIBLE} visible steps "
            f"{frac['all_features']:.0%} of |R| (target features "
            f"{frac['target_features']:.0%}; even spread {frac['uniform_all']:.0%}), "
            f"mean of {summary['decisions']} occluded decisions",
            fontsize=9,
        )
    ax = axes[4]
    for method in METHODS:
        per_step = np.abs(relevance[method]).sum(-1)
        ax.plot(steps, per_step / totals[method], label=LABELS[method])
    ax.fill_between(steps, 0, 1, where=hidden, color="0.85", step="mid",
                    transform=ax.get_xaxis_transform())  # fmt: skip
    ax.set(xlabel="step (0.1 s)", ylabel="share of |R| (all steps)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    data = io.BytesIO()
    fig.savefig(data, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, data.getvalue())


def explain_saved_agent(
    figure: Path = FIGURE, n_episodes: int = 8, stride: int = 2, run_dir: Path = RUN_DIR
) -> dict[str, Any]:
    """Load the saved agent, measure the last-visible fractions over ``n_episodes`` fresh
    episodes, draw the figure; returns the numbers (also written next to the figure)."""
    agent = RecurrentDQN.load(run_dir / "model.zip", device="cpu")
    explainer = RecurrentQExplainer(agent, OBS_NAMES)
    episodes = [play_episode(agent, ENV_ID, EXPLAIN_SEED + k) for k in range(n_episodes)]
    summary = explain_occluded_decisions(explainer, episodes, stride, TARGET_FEATURES, LAST_VISIBLE)
    t = pick_decision(episodes[0])
    plot_explanation(explainer, episodes[0], t, summary, figure)
    returns = [float(e["reward"].sum()) for e in episodes]
    numbers = {"last_visible_steps": LAST_VISIBLE, "episode_return_mean": float(np.mean(returns)),
               "explained_step": t, **summary}  # fmt: skip
    write_atomic(figure.with_suffix(".json"), json.dumps(numbers, indent=1).encode())
    return numbers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    learn = sub.add_parser("train", help="train and save the agents")
    learn.add_argument("--agents", nargs="+", default=list(AGENT_KINDS), choices=list(AGENT_KINDS))
    learn.add_argument("--steps", type=int, default=250_000)
    learn.add_argument("--seed", type=int, default=0)
    learn.add_argument("--out", type=Path, default=RUN_DIR)
    explain = sub.add_parser("explain", help="explain the saved agent's decisions")
    explain.add_argument("--episodes", type=int, default=8)
    explain.add_argument("--stride", type=int, default=2, help="explain every n-th occluded step")
    explain.add_argument("--figure", type=Path, default=FIGURE)
    explain.add_argument("--run-dir", type=Path, default=RUN_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.command == "train":
        for kind in args.agents:
            row = train(kind, args.steps, args.seed, args.out)
            print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
    else:
        numbers = explain_saved_agent(args.figure, args.episodes, args.stride, args.run_dir)
        print(json.dumps(numbers, indent=1))


if __name__ == "__main__":
    main()
