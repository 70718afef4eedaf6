"""Config resolution and validation of the CLI (in-process: ``main(argv)`` returns the status)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stateful_rl.cli import main
from stateful_rl.cli.config import (
    load_run_config,
    parse_overrides,
    parse_value,
    resolve_config,
)
from stateful_rl.cli.run_dir import RunDirectory

BASE = ["train", "--env", "CartPole-v1", "--agent", "dqn"]


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--set", "foo=1"], ["'foo'", "allowed:", "steps", "learning_rate"]),
        (["--set", "hyperparams.foo=1"], ["hyperparams key 'foo'", "allowed:", "gamma"]),
        (["--set", "learning_rate=fast"], ["learning_rate must be a float > 0 or 'lin_", "'fast'"]),
        (["--set", "steps=1.5"], ["steps must be int", "1.5"]),
        (["--set", "net_arch=[64, x]"], ["hyperparams.net_arch[1] must be int"]),
        (["--set", "gamma=2"], ["gamma must be in [0, 1]"]),
        (["--steps", "0"], ["steps must be >= 1"]),
        (["--encoder", "gru"], ["agent 'dqn' has no encoder", "recurrent-dqn"]),
        (["--device", "tpu"], ["device 'tpu'", "allowed: auto, cpu, cuda"]),
        (["--set", "steps"], ["--set expects key=value"]),
    ],
)
def test_bad_config_names_the_key_exits_2_writes_nothing(tmp_path, capsys, extra, named):
    run_dir = tmp_path / "run"
    assert main([*BASE, *extra, "--run-dir", str(run_dir)]) == 2
    message = capsys.readouterr().err
    assert message.startswith("stateful-rl train: error: ")
    for text in named:
        assert text in message
    assert not run_dir.exists()


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["train", "--env", "NoSuchEnv-v9", "--agent", "dqn"], ["'NoSuchEnv-v9'", "OccludedCatch"]),
        (["train", "--env", "CartPole-v1", "--agent", "ppo"], ["'ppo'", "recurrent-dqn, esn-dqn"]),
        (
            ["train", "--env", "CartPole-v1", "--agent", "recurrent-dqn", "--encoder", "tcn"],
            ["hyperparams.encoder 'tcn'", "lstm, gru, elman, esn"],
        ),
        (
            ["train", "--env", "CartPole-v1", "--agent", "esn-dqn", "--encoder", "gru"],
            ["fixes hyperparams.encoder = 'esn'"],
        ),
        (["train", "--env", "Pendulum-v1", "--agent", "dqn"], ["Box", "need Discrete"]),
        (
            [
                "train",
                "--env",
                "OccludedTracking-v0",
                "--agent",
                "dqn",
                "--set",
                "env_kwargs.dim=3",
            ],
            ["env_kwargs", "dim must be 1 or 2"],
        ),
        (
            [
                "train",
                "--env",
                "CartPole-v1",
                "--agent",
                "recurrent-dqn",
                "--set",
                "encoder_kwargs={hidden: 3}",
            ],
            ["rejects these hyperparams", "'hidden'"],
        ),
        (["train", "--agent", "dqn"], ["no env given"]),
        (["train", "--resume", "somewhere", "--steps", "5"], ["--steps"]),
        (["eval", "not-a-run"], ["not a run directory"]),
        (["sweep", "--config", "missing.yaml"], ["cannot read config file missing.yaml"]),
    ],
)
def test_unknown_names_list_the_allowed_values(tmp_path, capsys, monkeypatch, argv, named):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    message = capsys.readouterr().err
    for text in named:
        assert text in message
    assert list(tmp_path.iterdir()) == []


def test_config_file_error_names_the_file(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("- a list\n")
    assert main([*BASE, "--config", str(path)]) == 2
    assert "bad.yaml must hold a mapping" in capsys.readouterr().err


def test_layers_preset_file_set_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        yaml.safe_dump(
            {"env": "CartPole-v1", "agent": "dqn", "seed": 3, "hyperparams": {"gamma": 0.9}}
        )
    )
    config = resolve_config(
        path,
        parse_overrides(
            ["hyperparams.gamma=0.95", "batch_size=16", "env_kwargs.sutton_barto_reward=true"]
        ),
        {"seed": 7, "steps": None},
    )
    assert config.seed == 7  # flag beats file
    assert config.steps == 50_000  # CartPole preset beats the default (100 000)
    assert config.hyperparams["learning_rate"] == pytest.approx(2.3e-3)  # preset
    assert config.hyperparams["gamma"] == pytest.approx(0.95)  # --set beats file
    assert config.hyperparams["batch_size"] == 16  # bare hyper-parameter name
    assert config.hyperparams["tau"] == 1.0  # agent default, resolved
    assert config.env_kwargs == {"sutton_barto_reward": True}


def test_preset_entry_of_the_chosen_encoder():
    def resolved(hyperparams, **flags):
        config = resolve_config(
            overrides={"hyperparams": hyperparams},
            flags={"env": "OccludedTracking-v1", "agent": "recurrent-dqn", **flags},
        )
        hyper = config.hyperparams
        return config.steps, hyper["sequence_length"], hyper["burn_in"], hyper["sequence_stride"]

    assert resolved({}) == (300_000, 40, 10, 20)  # the env entry (GRU)
    assert resolved({"encoder": "lstm"}) == (500_000, 80, 20, 40)  # its LSTM entry
    assert resolved({"encoder": "lstm", "burn_in": 5}, steps=1000) == (1000, 80, 5, 40)


def test_short_env_ids_and_esn_agent_resolve():
    config = resolve_config(flags={"env": "OccludedCatch-v0", "agent": "esn-dqn"})
    assert config.env == "stateful_rl/OccludedCatch-v0"
    assert config.hyperparams["encoder"] == "esn"


def test_saved_config_round_trips(tmp_path):
    config = resolve_config(
        overrides={"hyperparams": {"net_arch": [32]}},
        flags={"env": "CartPole-v1", "agent": "recurrent-dqn", "steps": 1000},
    )
    RunDirectory(tmp_path).write_config(config)
    assert load_run_config(tmp_path) == config
    assert isinstance(yaml.safe_load((tmp_path / "config.yaml").read_text()), dict)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-3", 1e-3),
        ("3", 3),
        ("true", True),
        ("[64, 64]", [64, 64]),
        ("gru", "gru"),
        ("null", None),
    ],
)
def test_set_values_parse_as_yaml_and_floats(text, value):
    assert parse_value(text) == value


def test_new_run_needs_an_empty_directory(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("x")
    assert main([*BASE, "--steps", "10", "--run-dir", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_without_checkpoint_trains_from_scratch(tmp_path):
    """A run killed after config.yaml but before its first checkpoint is no dead end."""
    from stateful_rl.cli.training import resume

    config = resolve_config(
        overrides={"checkpoint_freq": 0, "eval_episodes": 2, "hyperparams": {"eval_freq": 0}},
        flags={"env": "CartPole-v1", "agent": "dqn", "steps": 200},
    )
    run = RunDirectory(Path(tmp_path))
    run.write_config(config)
    run.progress.write_text("partial,log\n1,2\n")
    resume(tmp_path, progress_bar=False)
    assert run.checkpoint.is_file() and run.model.is_file() and run.eval_json.is_file()
    assert "partial" not in run.progress.read_text()
