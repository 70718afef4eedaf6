"""``stateful-rl train --resume`` after a crash equals the uninterrupted run (CPU, fixed seed)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
import torch
from helpers import cli

from stateful_rl.cli.config import resolve_config
from stateful_rl.cli.run_dir import ProgressCSVOutputFormat
from stateful_rl.cli.training import train

torch.set_num_threads(1)

SMALL = {
    "steps": 600,
    "checkpoint_freq": 200,
    "log_interval": 100,
    "eval_episodes": 5,
    "device": "cpu",
    "hyperparams": {"eval_freq": 150, "n_eval_episodes": 3, "learning_starts": 100},
}
CASES = {  # agent: (env, run keys, hyper-parameters); the recurrent case uses 4 vector envs
    "dqn": ("CartPole-v1", {}, {"train_freq": 4, "gradient_steps": 1, "net_arch": [32]}),
    "recurrent-dqn": (
        "OccludedCatch-v0",
        {"n_envs": 4},
        {
            "encoder_kwargs": {"hidden_size": 16},
            "sequence_length": 10,
            "sequence_stride": 5,
            "burn_in": 2,
            "n_step": 2,
        },
    ),
}


class Crash(Exception):
    """Stands for a killed process."""


def weights(path: Path) -> dict[str, torch.Tensor]:
    with zipfile.ZipFile(path) as zf:
        modules = torch.load(io.BytesIO(zf.read("weights.pt")), weights_only=True)["modules"]
    return {f"{m}.{k}": v for m, sd in modules.items() for k, v in sd.items()}


def progress_rows(path: Path) -> list[tuple[str, str, str]]:
    """(step, loss, eval mean) of each progress.csv row (timings differ between runs)."""
    with open(path) as f:
        return [
            (r["time/total_timesteps"], r.get("train/loss", ""), r.get("eval/mean_reward", ""))
            for r in csv.DictReader(f)
        ]


@pytest.mark.parametrize("agent", list(CASES))
def test_resume_after_crash_equals_uninterrupted_run(tmp_path, agent):
    env_id, run_keys, hyperparams = CASES[agent]
    overrides = {**SMALL, **run_keys, "hyperparams": {**SMALL["hyperparams"], **hyperparams}}
    config = resolve_config(overrides=overrides, flags={"env": env_id, "agent": agent, "seed": 5})
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    train(config, whole, progress_bar=False)

    def crash_after_450(local_vars, global_vars) -> bool:
        if local_vars["self"].num_timesteps >= 450:
            raise Crash
        return True

    with pytest.raises(Crash):
        train(config, crashed, progress_bar=False, callback=crash_after_450)
    assert not (crashed / "model.zip").exists()
    out = cli("train", "--resume", str(crashed), "--no-progress")
    assert out.returncode == 0, out.stderr

    a, b = weights(whole / "model.zip"), weights(crashed / "model.zip")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert (whole / "evaluations.csv").read_text() == (crashed / "evaluations.csv").read_text()
    first, second = (json.loads((d / "eval.json").read_text()) for d in (whole, crashed))
    assert first["returns"] == second["returns"]
    assert progress_rows(whole / "progress.csv") == progress_rows(crashed / "progress.csv")
    if agent == "dqn":  # CartPole has no reference policies
        assert first["reference"] is None and first["memory_score"] is None
    else:
        assert first["memory_score"] is not None


def test_resumed_csv_drops_rows_after_the_checkpoint(tmp_path):
    path = tmp_path / "progress.csv"
    path.write_text("a,time/total_timesteps\n1,100\n2,200\n3,300\n")
    writer = ProgressCSVOutputFormat(path, resume_step=200)
    assert path.read_text() == "a,time/total_timesteps\n1,100\n2,200\n"  # rewritten at once
    writer.write({"a": 9, "time/total_timesteps": 300, "b": 1}, {}, step=300)
    writer.write({"a": 8, "time/total_timesteps": 400, "b": 2}, {}, step=400)
    writer.close()
    assert path.read_text() == "a,time/total_timesteps,b\n1,100,\n2,200,\n9,300,1\n8,400,2\n"


def test_progress_log_is_never_rewritten_in_place(tmp_path, monkeypatch):
    """A new column rewrites the log through a temporary file and a rename: a kill at that
    moment leaves the old file whole (SB3's writer overwrites it in place)."""
    path = tmp_path / "progress.csv"
    writer = ProgressCSVOutputFormat(path)
    writer.write({"a": 1}, {}, step=1)
    inode = path.stat().st_ino
    writer.write({"a": 2, "b": 3}, {}, step=2)
    assert path.stat().st_ino != inode  # replaced, not overwritten
    writer.write({"a": 4, "b": 5}, {}, step=3)
    writer.close()
    assert path.read_text() == "a,b\n1,\n2,3\n4,5\n"
