"""``stateful-rl`` smoke tests as subprocesses (CleanRL style) with tiny step counts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import cli

TINY = [
    "--steps",
    "600",
    "--set",
    "eval_freq=200",
    "n_eval_episodes=3",
    "learning_starts=100",
    "gradient_steps=8",
    "net_arch=[32]",
    "checkpoint_freq=200",
    "log_interval=200",
    "eval_episodes=4",
]
EVAL_KEYS = {
    "env": str,
    "env_kwargs": dict,
    "agent": str,
    "model": str,
    "num_timesteps": int,
    "episodes": int,
    "seed": int,
    "mean_return": float,
    "std_return": float,
    "mean_length": float,
    "returns": list,
    "reference": (dict, type(None)),
    "memory_score": (float, type(None)),
    "videos": list,
}


def check_eval_schema(result: dict) -> None:
    assert set(result) - {"final"} == set(EVAL_KEYS)
    for key, kind in EVAL_KEYS.items():
        assert isinstance(result[key], kind), (key, result[key])
    assert len(result["returns"]) == result["episodes"]
    assert result["mean_return"] == pytest.approx(np.mean(result["returns"]))
    assert result["std_return"] == pytest.approx(np.std(result["returns"]))


@pytest.fixture(scope="module")
def catch_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "catch"
    out = cli(
        "train", "--env", "OccludedCatch-v0", "--agent", "dqn", *TINY, "--run-dir", str(run_dir)
    )
    assert out.returncode == 0, out.stderr
    assert "return" in out.stderr
    return run_dir


def test_list_shows_envs_with_spaces_agents_and_encoders():
    out = cli("list")
    assert out.returncode == 0, out.stderr
    for text in ("stateful_rl/OccludedCatch-v0", "Discrete(3)", "recurrent-dqn", "esn-nfq", "gru"):
        assert text in out.stdout


def test_run_directory_contents(catch_run: Path):
    names = {p.name for p in catch_run.iterdir()}
    expected = {
        "config.yaml",
        "progress.csv",
        "checkpoints",
        "model.zip",
        "best_model.zip",
        "evaluations.csv",
        "learning_curve.png",
        "eval.json",
    }
    assert expected <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    assert (catch_run / "checkpoints" / "training_state.pt").is_file()
    assert (catch_run / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [n for n in names if n.endswith(".tmp")]
    config = yaml.safe_load((catch_run / "config.yaml").read_text())
    assert config["steps"] == 600 and config["hyperparams"]["eval_freq"] == 200
    assert config["n_envs"] == 8 and config["hyperparams"]["double"]  # the env's preset
    with open(catch_run / "progress.csv") as f:
        steps = [int(float(row["time/total_timesteps"])) for row in csv.DictReader(f)]
    assert steps == [200, 400, 600, 600]  # every log_interval, then the final dump
    evaluations = np.loadtxt(catch_run / "evaluations.csv", delimiter=",", skiprows=1)
    assert evaluations[:, 0].tolist() == [200, 400, 600]
    result = json.loads((catch_run / "eval.json").read_text())
    check_eval_schema(result)
    assert result["model"] == "best_model.zip" and result["final"]["model"] == "model.zip"


def test_eval_json_and_video(catch_run: Path):
    out = cli("eval", str(catch_run), "--episodes", "5", "--video")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    check_eval_schema(result)
    assert result["episodes"] == 5 and result["num_timesteps"] == 200  # the kept model
    assert set(result["reference"]) == {"random", "memoryless", "kalman", "oracle"}
    memoryless, oracle = (result["reference"][k]["mean"] for k in ("memoryless", "oracle"))
    expected = (result["mean_return"] - memoryless) / (oracle - memoryless)
    assert result["memory_score"] == pytest.approx(expected)
    assert json.loads((catch_run / "eval-best_model.json").read_text()) == result
    assert "final" in json.loads((catch_run / "eval.json").read_text())  # training's, kept
    video = catch_run / result["videos"][0]
    assert video.suffix == ".mp4" and video.read_bytes()[4:8] == b"ftyp"
    assert "±" in out.stderr


def test_config_error_exits_2_and_writes_nothing(tmp_path: Path):
    run_dir = tmp_path / "never"
    out = cli(
        "train", "--env", "CartPole-v1", "--agent", "dqn", "--set", "learning_rat=0.1",
        "--run-dir", str(run_dir),
    )  # fmt: skip
    assert out.returncode == 2
    assert "learning_rat" in out.stderr and "learning_rate" in out.stderr  # names allowed keys
    assert len(out.stderr.strip().splitlines()) == 1
    assert not run_dir.exists()


def test_bench_runs_the_benchmark_module():
    out = cli("bench", "envs", "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: stateful-rl bench envs" in out.stdout


def test_demo_prints_the_table_and_saves_the_curve(tmp_path: Path):
    out = cli("demo", "--steps", "300", "--run-dir", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stderr
    for label in (
        "random",
        "memoryless",
        "DQN (feed-forward)",
        "recurrent DQN",
        "Kalman",
        "oracle",
    ):
        assert label in out.stdout
    assert (tmp_path / "demo" / "learning_curve.png").is_file()
    for agent in ("dqn", "recurrent-dqn"):
        result = json.loads((tmp_path / "demo" / agent / "eval.json").read_text())
        assert result["memory_score"] is not None
