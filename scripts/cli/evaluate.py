"""Evaluate a run's saved policy: mean ± std return, memory score, optional GIF videos.

The memory score ``(R - R_memoryless) / (R_oracle - R_memoryless)`` is defined for the envs
that have reference policies (the occluded tracking and catch tasks); the references are
run on the same number of episodes and the same seeds.
"""

from __future__ import annotations

import io
import math
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image

from stateful_rl.agents.base import BaseAgent
from stateful_rl.agents.persistence import write_atomic
from stateful_rl.cli.config import ConfigError, RunConfig, agent_class, load_run_config
from stateful_rl.cli.run_dir import RunDirectory, write_json
from stateful_rl.envs.reference_policies import evaluate_reference_policies, memory_score

EVAL_SEED = 2_000_000  # first episode seed (training and periodic evaluations use others)
REFERENCE_TASK_API = ("moves", "split_obs", "true_state", "goal", "kalman_filter")


def has_reference_policies(env_id: str, env_kwargs: dict[str, Any]) -> bool:
    """Whether the reference policies run on ``env_id`` (a native vector env with a task)."""
    if gym.spec(env_id).vector_entry_point is None:
        return False
    env = gym.make(env_id, **env_kwargs)
    task = getattr(env.unwrapped, "task", None)
    env.close()
    return all(hasattr(task, name) for name in REFERENCE_TASK_API)


def reference_results(
    env_id: str, env_kwargs: dict[str, Any], episodes: int, seed: int
) -> dict[str, dict[str, float]] | None:
    """``{policy: {"mean": .., "std": ..}}`` of the reference policies, or None."""
    if not has_reference_policies(env_id, env_kwargs):
        return None
    results = evaluate_reference_policies(env_id, episodes, seed, **env_kwargs)
    return {name: {"mean": m, "std": s} for name, (m, s) in results.items()}


def score(mean_return: float, references: dict[str, dict[str, float]] | None) -> float | None:
    """The memory score of ``mean_return`` (None without references or without a gap)."""
    if references is None:
        return None
    try:
        return memory_score(
            mean_return, references["memoryless"]["mean"], references["oracle"]["mean"]
        )
    except ValueError:
        return None


def load_agent(run: RunDirectory, config: RunConfig, model: str = "model") -> BaseAgent:
    """The saved policy ``model`` (``model`` or ``best_model``) of a run, ready to evaluate."""
    path = run.root / f"{model}.zip"
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: train the run first (or pick another --model)")
    make_env = partial(gym.make, config.env, **config.env_kwargs)
    return agent_class(config.agent).load(path, device=config.device, eval_env=make_env)


def record_gif(agent: BaseAgent, config: RunConfig, path: Path, seed: int) -> float:
    """Roll one greedy episode with ``render_mode="rgb_array"`` into a GIF; its return."""
    env = gym.make(config.env, render_mode="rgb_array", **config.env_kwargs)
    obs, _ = env.reset(seed=seed)
    try:
        first = env.render()
    except ImportError as error:  # e.g. classic control needs pygame
        raise ConfigError(f"--video: {config.env} cannot render: {error}") from None
    frames, state, start, done, total = [first], None, True, False, 0.0
    while not done:
        action, state = agent.predict(obs, state, np.array([start]), deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        frames.append(env.render())
        total, start, done = total + float(reward), False, terminated or truncated
    fps = env.metadata.get("render_fps", 30)
    env.close()
    images = [Image.fromarray(frame) for frame in frames]
    data = io.BytesIO()
    images[0].save(
        data, format="GIF", save_all=True, append_images=images[1:], duration=1000 / fps, loop=0
    )
    write_atomic(path, data.getvalue())
    return total


def evaluate_run(
    run_dir: str | Path,
    episodes: int | None = None,
    seed: int = EVAL_SEED,
    videos: int = 0,
    model: str = "model",
) -> dict[str, Any]:
    """Evaluate the run's policy on ``episodes`` seeded episodes; write and return ``eval.json``.

    Keys: env, env_kwargs, agent, model, num_timesteps, episodes, seed (episode ``i`` uses
    ``seed + i``), mean_return, std_return, mean_length, returns, reference (per policy mean
    and std, or null), memory_score (or null), videos (paths relative to the run).
    """
    run = RunDirectory(Path(run_dir))
    config = load_run_config(run.root)
    episodes = episodes or config.eval_episodes
    if episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {episodes}")
    agent = load_agent(run, config, model)
    returns, lengths = agent.evaluate(seed + np.arange(episodes))
    mean = float(returns.mean())
    references = reference_results(config.env, config.env_kwargs, episodes, seed)
    result: dict[str, Any] = {
        "env": config.env,
        "env_kwargs": config.env_kwargs,
        "agent": config.agent,
        "model": f"{model}.zip",
        "num_timesteps": agent.num_timesteps,
        "episodes": episodes,
        "seed": seed,
        "mean_return": mean,
        "std_return": float(returns.std()),
        "mean_length": float(lengths.mean()),
        "returns": [float(r) for r in returns],
        "reference": references,
        "memory_score": score(mean, references),
        "videos": [],
    }
    for i in range(videos):
        path = run.videos / f"{model}-episode{i}.gif"
        record_gif(agent, config, path, seed + i)
        result["videos"].append(str(path.relative_to(run.root)))
    write_json(run.eval_json, result)
    return result


def summary_line(result: dict[str, Any]) -> str:
    """``mean ± std return over N episodes`` plus the memory score where defined."""
    text = (
        f"{result['env']} {result['agent']} ({result['num_timesteps']} steps): return "
        f"{result['mean_return']:.3f} ± {result['std_return']:.3f} "
        f"over {result['episodes']} episodes"
    )
    ms = result["memory_score"]
    if ms is not None and math.isfinite(ms):
        text += f", memory score {ms:.2f}"
    return text
