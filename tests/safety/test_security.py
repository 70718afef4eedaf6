"""Opening someone else's run is safe: no payload in a run directory, config, checkpoint or
model file runs code. Every case checks that the payload's marker file never appears."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import gymnasium as gym
import pytest
import torch
import yaml
from helpers import cli

import stateful_rl.envs  # noqa: F401
from stateful_rl.agents import DQN
from stateful_rl.cli import main
from stateful_rl.cli.run_dir import RunDirectory
from stateful_rl.envs.classic import CLASSIC_MEMORY_ENVS


class Payload:
    """Unpickling it runs ``touch marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "marker"
    yield path
    assert not path.exists(), "a payload ran"


@pytest.mark.parametrize("name", list(CLASSIC_MEMORY_ENVS))
def test_env_kwargs_cannot_name_code(name, marker):
    with pytest.raises(TypeError):
        gym.make(f"stateful_rl/{name}", base="os:system", command=f"touch {marker}")
    with pytest.raises(TypeError):
        gym.make(f"stateful_rl/{name}", wrapper="os:system")


def poison_config(run: RunDirectory, marker: Path, **changes) -> None:
    config = yaml.safe_load(run.config.read_text())
    config.update(changes)
    run.config.write_text(yaml.safe_dump(config))


@pytest.mark.parametrize(
    "changes",
    [
        {"env": "stateful_rl/CartPoleNoVel-v0", "env_kwargs": {"base": "os:system"}},
        {"env_kwargs": {"render_mode": "human", "nested": [{"x": "subprocess:run"}]}},
        {"env": "os:system"},
        {"env": "antigravity:Fly-v0"},
        {"hyperparams": {"encoder": "os:system"}},
    ],
)
def test_poisoned_run_config_is_refused_by_eval_resume_and_config(run, marker, changes):
    poison_config(run, marker, **changes)
    for argv in (
        ["eval", str(run.root)],
        ["train", "--resume", str(run.root)],
        ["train", "--config", str(run.config), "--run-dir", str(run.root.parent / "new")],
    ):
        assert main(argv) == 2, argv
    assert not (run.root.parent / "new").exists()


def test_import_string_in_set_is_refused(tmp_path, marker, capsys):
    argv = [
        "train",
        "--env",
        "CartPoleNoVel-v0",
        "--agent",
        "dqn",
        "--run-dir",
        str(tmp_path / "r"),
    ]
    assert main([*argv, "--set", "env_kwargs.base=os:system"]) == 2
    assert "import path" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_sweep_file_cannot_name_code(tmp_path, marker):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "output": str(tmp_path / "out"),
                "envs": ["CartPoleNoVel-v0"],
                "agents": ["dqn"],
                "seeds": [0],
                "set": {"env_kwargs.base": "os:system", "env_kwargs.command": f"touch {marker}"},
            }
        )
    )
    assert main(["sweep", "--config", str(sweep)]) == 2
    assert not (tmp_path / "out").exists()


def test_yaml_python_tags_are_refused(run, marker):
    run.config.write_text(f"env: !!python/object/apply:os.system ['touch {marker}']\n")
    assert main(["eval", str(run.root)]) == 2
    assert main(["train", "--resume", str(run.root)]) == 2


def test_pickled_training_state_is_refused_on_resume(run, marker, capsys):
    torch.save({"format": "stateful_rl.training_state", "x": Payload(marker)}, run.checkpoint)
    assert main(["train", "--resume", str(run.root)]) == 2
    assert "refusing to unpickle" in capsys.readouterr().err
    run.checkpoint.write_bytes(pickle.dumps(Payload(marker)))
    assert main(["train", "--resume", str(run.root)]) == 2


def test_pickled_model_weights_are_refused_by_eval(run, marker, capsys):
    with zipfile.ZipFile(run.best_model) as zf:
        config = zf.read("config.json")
    weights = io.BytesIO()
    torch.save({"modules": Payload(marker), "obs_rms": None}, weights)
    with zipfile.ZipFile(run.best_model, "w") as zf:
        zf.writestr("config.json", config)
        zf.writestr("weights.pt", weights.getvalue())
    assert main(["eval", str(run.root), "--model", "best_model"]) == 2
    assert "refusing to unpickle" in capsys.readouterr().err


def test_model_with_extra_members_or_bomb_is_refused(run, marker):
    with zipfile.ZipFile(run.model, "a") as zf:
        zf.writestr("__init__.py", f"import os; os.system('touch {marker}')")
    assert main(["eval", str(run.root), "--model", "model"]) == 2
    with zipfile.ZipFile(run.model, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("weights.pt", bytes(64 * 2**20))  # 64 MiB of zeros, ~64 KiB stored
    assert main(["eval", str(run.root), "--model", "model"]) == 2
    with pytest.raises(ValueError, match="zip bomb"):
        DQN.load(run.model)


def test_the_command_line_imports_only_what_it_is_told(tmp_path, marker):
    """``--import`` is the one way to load a package's env ids: from the command line only."""
    package = tmp_path / "myenvs.py"
    package.write_text(
        "import gymnasium as gym\n"
        "gym.register('myenvs/Cart-v0', entry_point='gymnasium.envs.classic_control."
        "cartpole:CartPoleEnv', max_episode_steps=50)\n"
    )
    out = cli("train", "--env", "myenvs/Cart-v0", "--agent", "dqn", "--steps", "60",
              "--set", "learning_starts=10", "eval_episodes=1", "hyperparams.eval_freq=0",
              "--run-dir", str(tmp_path / "r"), "--import", "myenvs", "--no-progress",
              cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["env"] == "myenvs/Cart-v0"
    out = cli("eval", str(tmp_path / "r"), "--episodes", "1", cwd=tmp_path)
    assert out.returncode == 2 and "myenvs/Cart-v0" in out.stderr  # not imported from the file
