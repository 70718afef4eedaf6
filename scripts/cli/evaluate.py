"""Evaluate a run's saved policy: mean ± std return, memory score, optional videos.

The memory score ``(R - R_memoryless) / (R_oracle - R_memoryless)`` is defined for the envs
that have reference policies (the occluded tracking and catch tasks); the references are
run on the same number of episodes and the same seeds.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from stateful_rl.agents.base import BaseAgent
from stateful_rl.cli.config import ConfigError, RunConfig, agent_class, load_run_config
from stateful_rl.cli.run_dir import RunDirectory, write_json
from stateful_rl.cli.video import write_video
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
    try:
        return agent_class(config.agent).load(path, device=config.device, eval_env=make_env)
    except ValueError as error:  # includes UnsafeFileError: a file we did not write
        raise ConfigError(str(error)) from None


def check_renderable(config: RunConfig) -> None:
    """Raise :class:`ConfigError` unless the env renders ``rgb_array`` frames here (checked
    before evaluating, so that a missing renderer does not cost the evaluation)."""
    try:
        env = gym.make(config.env, render_mode="rgb_array", **config.env_kwargs)
        env.reset(seed=0)
        frame = env.render()
        env.close()
    except (ImportError, gym.error.DependencyNotInstalled) as error:
        raise ConfigError(f"--video: {config.env} cannot render here: {error}") from None
    except (TypeError, ValueError) as error:
        raise ConfigError(f"--video: {config.env} has no rgb_array rendering ({error})") from None
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        raise ConfigError(f"--video: {config.env} renders no rgb_array frames")


def record_video(agent: BaseAgent, config: RunConfig, path: Path, seed: int) -> tuple[Path, float]:
    """Roll one greedy episode with ``render_mode="rgb_array"`` into a video (mp4 or GIF,
    :mod:`stateful_rl.cli.video`); the path written and the episode's return."""
    env = gym.make(config.env, render_mode="rgb_array", **config.env_kwargs)
    obs, _ = env.reset(seed=seed)
    frames, state, start, done, total = [env.render()], None, True, False, 0.0
    while not done:
        action, state = agent.predict(obs, state, np.array([start]), deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        frames.append(env.render())
        total, start, done = total + float(reward), False, terminated or truncated
    fps = env.metadata.get("render_fps", 30)
    env.close()
    return write_video(path, frames, fps), total


def evaluate_model(
    run: RunDirectory, config: RunConfig, model: str, episodes: int, seed: int
) -> dict[str, Any]:
    """The ``eval`` result of one saved model of the run (see :func:`evaluate_run`)."""
    agent = load_agent(run, config, model)
    returns, lengths = agent.evaluate(seed + np.arange(episodes))
    mean = float(returns.mean())
    references = reference_results(config.env, config.env_kwargs, episodes, seed)
    return {
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


def kept_model(run: RunDirectory) -> str:
    """``best_model`` (kept by periodic evaluation) when the run has one, else ``model``."""
    return "best_model" if run.best_model.is_file() else "model"


def evaluate_run(
    run_dir: str | Path,
    episodes: int | None = None,
    seed: int = EVAL_SEED,
    videos: int = 0,
    model: str | None = None,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate a saved model of a run on ``episodes`` seeded episodes (episode ``i`` uses
    ``seed + i``) and write the result to ``out`` (default ``eval-<model>.json`` in the run)
    under the run's lock, with ``videos`` videos in ``videos/``.

    ``model``: ``best_model`` or ``model`` (default: :func:`kept_model`). Keys: env,
    env_kwargs, agent, model, num_timesteps, episodes, seed, mean_return, std_return,
    mean_length, returns, reference (per policy mean and std, or null), memory_score (or
    null), videos (paths relative to the run). When the run cannot be written (read-only,
    disk full) the result is still returned, with ``not_written`` naming the problem.
    """
    run = RunDirectory(Path(run_dir))
    config = load_run_config(run.root)
    episodes = config.eval_episodes if episodes is None else episodes
    if episodes < 1 or videos < 0:
        raise ConfigError(f"need --episodes >= 1 and --video >= 0, got {episodes} and {videos}")
    if videos:
        check_renderable(config)
    model = model or kept_model(run)
    result = evaluate_model(run, config, model, episodes, seed)
    out = Path(out) if out is not None else run.root / f"eval-{model}.json"
    try:
        with run.lock("eval"):
            agent = load_agent(run, config, model)
            for i in range(videos):
                path, _ = record_video(agent, config, run.videos / f"{model}-episode{i}", seed + i)
                result["videos"].append(str(path.relative_to(run.root)))
            write_json(out, result)
    except OSError as error:
        result["not_written"] = f"{error.filename or run.root}: {error.strerror or error}"
    return result


def write_final_evaluation(run: RunDirectory, config: RunConfig) -> dict[str, Any]:
    """``eval.json`` at the end of training (the caller holds the run's lock): the kept
    model's result, with the final model's mean, std and memory score under ``final``."""
    kept = kept_model(run)
    result = evaluate_model(run, config, kept, config.eval_episodes, EVAL_SEED)
    final = result
    if kept != "model":
        final = evaluate_model(run, config, "model", config.eval_episodes, EVAL_SEED)
    result["final"] = {k: final[k] for k in ("model", "mean_return", "std_return", "memory_score")}
    write_json(run.eval_json, result)
    return result


def summary_line(result: dict[str, Any]) -> str:
    """``mean ± std return over N episodes`` plus the memory score where defined, for the
    evaluated model and (after training) the final one."""

    def describe(r: dict[str, Any]) -> str:
        text = f"{r['model']}: return {r['mean_return']:.3f} ± {r['std_return']:.3f}"
        ms = r["memory_score"]
        if ms is not None and math.isfinite(ms):
            text += f", memory score {ms:.2f}"
        return text

    text = (
        f"{result['env']} {result['agent']} ({result['num_timesteps']} steps, "
        f"{result['episodes']} episodes): {describe(result)}"
    )
    final = result.get("final")
    if final is not None and final["model"] != result["model"]:
        text += f"; final {describe(final)}"
    return text
