"""Train (or resume) one run into its run directory.

``train`` writes ``config.yaml`` first, then trains with a progress bar (live mean return,
steps/s), periodic evaluation (``hyperparams.eval_freq``), a training-state checkpoint every
``checkpoint_freq`` env steps and at the end, and finally the model, the evaluation curve and
``eval.json``. ``resume`` loads the checkpoint and continues to the configured step count;
on CPU with a fixed seed the result equals an uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym

from stateful_rl.agents import AGENTS
from stateful_rl.agents.base import BaseAgent, CallbackLike
from stateful_rl.cli.config import ConfigError, RunConfig, agent_class, load_run_config
from stateful_rl.cli.evaluate import evaluate_run
from stateful_rl.cli.plots import plot_curves, std_curve
from stateful_rl.cli.run_dir import RunDirectory


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


def check_new_run_dir(run_dir: Path) -> None:
    """A new run needs a missing or empty directory (``--resume`` continues an old one)."""
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(
            f"run directory {run_dir} is not empty: pass --resume {run_dir} to continue it, "
            "or another --run-dir"
        )


def train(
    config: RunConfig,
    run_dir: str | Path,
    progress_bar: bool = True,
    callback: CallbackLike = None,
) -> BaseAgent:
    """Train a new run (``run_dir`` must be missing or empty); ``callback`` as in ``learn``."""
    run = RunDirectory(Path(run_dir))
    check_new_run_dir(run.root)
    agent = build_agent(config)
    run.write_config(config)
    agent.set_logger(run.logger())
    return _learn(agent, config, run, config.steps, progress_bar, True, callback)


def resume(run_dir: str | Path, progress_bar: bool = True) -> BaseAgent:
    """Continue a run from its last checkpoint to ``config.steps`` env steps."""
    run = RunDirectory(Path(run_dir))
    config = load_run_config(run.root)
    if not run.checkpoint.is_file():
        raise ConfigError(f"{run.root} has no checkpoint ({run.checkpoint}) to resume from")
    agent = agent_class(config.agent).load_training_state(
        run.checkpoint, make_env(config), device=config.device
    )
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
    agent.save_training_state(run.checkpoint)  # resuming a finished run does nothing
    agent.save(run.model)
    agent.logger.close()
    run.write_evaluations(agent.eval_history)
    evaluations = run.read_evaluations()
    if len(evaluations):
        title = f"{config.agent} on {config.env}, seed {config.seed}"
        curve = std_curve(config.agent, evaluations)
        band = f"±1 std over {agent.config.n_eval_episodes} evaluation episodes"
        plot_curves([curve], run.learning_curve, title, band)
    evaluate_run(run.root, config.eval_episodes)
    return agent
