"""Train (or resume) one run into its run directory.

``train`` takes the run directory's lock, writes ``config.yaml`` first, then trains with a
progress bar (live mean return, steps/s), periodic evaluation (``hyperparams.eval_freq``),
a training-state checkpoint every ``checkpoint_freq`` env steps and at the end, and
finally the model, the evaluation curve and ``eval.json``. ``resume`` continues from the
last checkpoint to the configured step count; on CPU with a fixed seed the result equals
an uninterrupted run. A run killed before its first checkpoint has nothing to continue
from: ``resume`` then starts it again from scratch with its ``config.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym

from stateful_rl.agents import AGENTS
from stateful_rl.agents.base import BaseAgent, CallbackLike
from stateful_rl.cli.config import ConfigError, RunConfig, agent_class, load_run_config
from stateful_rl.cli.evaluate import write_final_evaluation
from stateful_rl.cli.plots import plot_curves, std_curve
from stateful_rl.cli.run_dir import RunDirectory

# What a run writes while it trains, removed when a run killed before its first
# checkpoint starts again (config.yaml stays: it is the run's definition).
PARTIAL_ARTEFACTS = ("progress.csv", "evaluations.csv", "best_model.zip", "learning_curve.png")


def make_env(config: RunConfig) -> gym.Env | gym.vector.VectorEnv:
    """The training env: one env, or ``n_envs`` in Gymnasium's preferred vector env."""
    if config.n_envs == 1:
        return gym.make(config.env, **config.env_kwargs)
    return gym.make_vec(config.env, num_envs=config.n_envs, **config.env_kwargs)


def build_agent(config: RunConfig) -> BaseAgent:
    """A new agent for ``config`` (seeded; training env attached); nested arguments such as
    ``encoder_kwargs`` are checked here, by the constructors, as a ``ConfigError``."""
    try:
        return AGENTS[config.agent](
            make_env(config), config=config.hyperparams, device=config.device, seed=config.seed
        )
    except (TypeError, ValueError) as error:
        raise ConfigError(f"agent {config.agent!r} rejects these hyperparams: {error}") from None


def train(
    config: RunConfig,
    run_dir: str | Path,
    progress_bar: bool = True,
    callback: CallbackLike = None,
) -> BaseAgent:
    """Train a new run (``run_dir`` must be missing or empty); ``callback`` as in ``learn``."""
    run = RunDirectory(Path(run_dir))
    if not run.is_new():  # checked again under the lock; this one writes nothing
        raise ConfigError(
            f"run directory {run.root} is not empty: pass --resume {run.root} to continue it, "
            "or another --run-dir"
        )
    agent = build_agent(config)  # the last config checks, before anything is written
    run.root.mkdir(parents=True, exist_ok=True)
    with run.lock("train"):
        if not run.is_new():
            raise ConfigError(f"run directory {run.root} was just taken by another run")
        return _train_new(agent, config, run, progress_bar, callback)


def _train_new(
    agent: BaseAgent,
    config: RunConfig,
    run: RunDirectory,
    progress_bar: bool,
    callback: CallbackLike,
) -> BaseAgent:
    run.write_config(config)
    agent.set_logger(run.logger())
    return _learn(agent, config, run, config.steps, progress_bar, True, callback)


def resume(run_dir: str | Path, progress_bar: bool = True) -> BaseAgent:
    """Continue a run from its last checkpoint to ``config.steps`` env steps (from scratch if
    it has no checkpoint yet); a finished run is left as it is, its missing final files
    written."""
    run = RunDirectory(Path(run_dir))
    config = load_run_config(run.root)
    with run.lock("train --resume"):
        if not run.checkpoint.is_file():
            for name in PARTIAL_ARTEFACTS:
                (run.root / name).unlink(missing_ok=True)
            for events in run.root.glob("events.out.tfevents.*"):
                events.unlink()
            print(f"{run.root} has no checkpoint yet: training it from scratch", file=sys.stderr)
            return _train_new(build_agent(config), config, run, progress_bar, None)
        try:
            agent = agent_class(config.agent).load_training_state(
                run.checkpoint, make_env(config), device=config.device
            )
        except ValueError as error:  # includes UnsafeFileError: a file we did not write
            raise ConfigError(str(error)) from None
        agent.set_logger(run.logger(resume_step=agent.num_timesteps))
        return _learn(agent, config, run, agent.remaining_timesteps, progress_bar, False, None)


def _learn(
    agent: BaseAgent,
    config: RunConfig,
    run: RunDirectory,
    steps: int,
    progress_bar: bool,
    reset: bool,
    callback: CallbackLike,
) -> BaseAgent:
    if reset or steps > 0:  # a finished run logs nothing again
        agent.learn(
            steps,
            callback=callback,
            log_interval=config.log_interval,
            progress_bar=progress_bar,
            reset_num_timesteps=reset,
            best_model_path=run.best_model,
            checkpoint_freq=config.checkpoint_freq,
            checkpoint_path=run.checkpoint,
        )
        agent.save_training_state(run.checkpoint)
    agent.save(run.model)
    agent.logger.close()
    run.write_evaluations(agent.eval_history)
    evaluations = run.read_evaluations()
    if len(evaluations):
        title = f"{config.agent} on {config.env}, seed {config.seed}"
        curve = std_curve(config.agent, evaluations)
        band = f"±1 std over {agent.config.n_eval_episodes} evaluation episodes"
        plot_curves([curve], run.learning_curve, title, band)
    write_final_evaluation(run, config)
    return agent
