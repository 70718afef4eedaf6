"""A finished DQN CartPole run that the safety tests tamper with (trained once per module,
copied per test)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stateful_rl.cli.config import resolve_config
from stateful_rl.cli.run_dir import RunDirectory
from stateful_rl.cli.training import train

TINY = {
    "steps": 300,
    "checkpoint_freq": 100,
    "log_interval": 100,
    "eval_episodes": 2,
    "device": "cpu",
    "hyperparams": {"eval_freq": 100, "n_eval_episodes": 2, "learning_starts": 50},
}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trained") / "run"
    config = resolve_config(overrides=TINY, flags={"env": "CartPole-v1", "agent": "dqn"})
    train(config, root, progress_bar=False)
    return root


@pytest.fixture
def run(trained_run, tmp_path) -> RunDirectory:
    shutil.copytree(trained_run, tmp_path / "run")
    return RunDirectory(tmp_path / "run")
