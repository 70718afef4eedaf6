"""``stateful-rl train --seeds``: one ordinary run directory per seed (each equal to the seed
trained alone), the across-seed summary and curves, resume after a crash, bad input."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import torch

from stateful_rl.adapters import fallback_forced
from stateful_rl.cli import main
from stateful_rl.cli.config import resolve_config
from stateful_rl.cli.seeds import train_seeds
from stateful_rl.cli.sweep import interval95, load_sweep, trial_groups
from stateful_rl.cli.training import train

# Seeds train together only with the direct fused Adam kernel (its fallback steps one seed).
needs_stacked_kernel = pytest.mark.skipif(fallback_forced(), reason="fallbacks forced")

torch.set_num_threads(1)

TINY = [
    "--env", "CartPole-v1", "--agent", "dqn", "--steps", "600", "--device", "cpu",
    "--no-progress", "--set", "eval_episodes=3", "checkpoint_freq=200", "log_interval=100",
    "hyperparams.eval_freq=200", "hyperparams.n_eval_episodes=2",
    "hyperparams.learning_starts=100", "hyperparams.net_arch=[32]",
]  # fmt: skip


def overrides() -> dict:
    return {
        "steps": 600, "device": "cpu", "eval_episodes": 3, "checkpoint_freq": 200,
        "log_interval": 100,
        "hyperparams": {"eval_freq": 200, "n_eval_episodes": 2, "learning_starts": 100,
                        "net_arch": [32]},
    }  # fmt: skip


def weights(path: Path) -> dict[str, torch.Tensor]:
    with zipfile.ZipFile(path) as zf:
        modules = torch.load(io.BytesIO(zf.read("weights.pt")), weights_only=True)["modules"]
    return {f"{m}.{k}": v for m, sd in modules.items() for k, v in sd.items()}


def assert_same_weights(a: Path, b: Path) -> None:
    mine, theirs = weights(a), weights(b)
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


@needs_stacked_kernel
def test_seeds_train_into_one_run_directory_each_equal_to_the_seed_alone(tmp_path, capsys):
    parent = tmp_path / "batch"
    assert main(["train", *TINY, "--seeds", "0", "1", "--run-dir", str(parent)]) == 0
    err = capsys.readouterr().err
    assert "training 2 seeds together" in err and "(mean [95% interval] over seeds)" in err
    alone = tmp_path / "alone"
    train(resolve_config(None, overrides(), {"env": "CartPole-v1", "agent": "dqn", "seed": 1}),
          alone, progress_bar=False)  # fmt: skip
    seed1 = parent / "seed1"
    for name in (
        "config.yaml",
        "model.zip",
        "best_model.zip",
        "eval.json",
        "evaluations.csv",
        "progress.csv",
        "learning_curve.png",
        "checkpoints/training_state.pt",
    ):
        assert (seed1 / name).is_file(), name  # fmt: skip
    assert_same_weights(seed1 / "model.zip", alone / "model.zip")
    assert (seed1 / "evaluations.csv").read_text() == (alone / "evaluations.csv").read_text()
    mine, theirs = (json.loads((d / "eval.json").read_text()) for d in (seed1, alone))
    assert mine["returns"] == theirs["returns"]
    summary = json.loads((parent / "summary.json").read_text())
    returns = [json.loads((parent / f"seed{s}" / "eval.json").read_text())["mean_return"]
               for s in (0, 1)]  # fmt: skip
    assert summary["seeds"] == [0, 1] and summary["kept_return"]["values"] == returns
    half = float(interval95(torch.tensor(returns).numpy()))
    assert summary["kept_return"]["ci95_high"] == pytest.approx(sum(returns) / 2 + half)
    assert (parent / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    # each seed is an ordinary run: eval works on it alone
    assert main(["eval", str(seed1), "--episodes", "2"]) == 0


class Crash(Exception):
    """Stands for a killed process."""


def test_resume_of_the_parent_continues_every_seed_as_uninterrupted(tmp_path):
    flags = {"env": "CartPole-v1", "agent": "dqn"}
    configs = [resolve_config(None, overrides(), {**flags, "seed": s}) for s in (0, 1)]
    whole = tmp_path / "whole"
    train_seeds(configs, whole, progress_bar=False)

    def crash(local_vars, _) -> bool:
        agent = local_vars["self"]
        if agent.seed == 1 and agent.num_timesteps >= 450:
            raise Crash
        return True

    crashed = tmp_path / "crashed"
    with pytest.raises(Crash):
        train_seeds(configs, crashed, progress_bar=False, callback=crash)
    assert not (crashed / "seed1" / "model.zip").exists()
    assert main(["train", "--resume", str(crashed), "--no-progress"]) == 0
    for seed in (0, 1):
        assert_same_weights(whole / f"seed{seed}" / "model.zip",
                            crashed / f"seed{seed}" / "model.zip")  # fmt: skip
    summaries = [json.loads((d / "summary.json").read_text()) for d in (whole, crashed)]
    assert summaries[0] == summaries[1]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--seed", "0", "--seeds", "1", "2"], "--seed or --seeds"),
        (["--seeds", "0", "0"], "--seeds: seeds must be distinct, got [0]"),
        (["--resume", "somewhere", "--seeds", "1"], "'--seeds'"),
    ],
)
def test_bad_seed_arguments_exit_2_naming_them(tmp_path, capsys, args, named):
    assert main(["train", *TINY, *args, "--run-dir", str(tmp_path / "run")]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_agents_without_a_batched_form_train_their_seeds_one_after_another(tmp_path, capsys):
    parent = tmp_path / "gru"
    args = ["train", *TINY[:2], "--agent", "recurrent-dqn", "--encoder", "gru", *TINY[4:],
            "--set", "hyperparams.encoder_kwargs={hidden_size: 8}", "hyperparams.net_arch=[8]",
            "--seeds", "0", "1", "--run-dir", str(parent)]  # fmt: skip
    assert main(args) == 0
    assert "one after another (its encoder (gru) is trained" in capsys.readouterr().err
    assert (parent / "seed1" / "model.zip").is_file() and (parent / "summary.json").is_file()


def test_sweeps_group_the_seeds_of_a_configuration(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "output: out\nenvs: [CartPole-v1]\nagents: [dqn, recurrent-dqn]\nencoders: [gru, lstm]\n"
        "seeds: [0, 1, 2]\nsteps: 100\n"
    )
    _, trials = load_sweep(path)
    groups = trial_groups(trials, batch_seeds=True)
    assert [len(g) for g in groups] == [3, 3, 3]
    assert all(len({t.label for t in g}) == 1 for g in groups)
    assert len(trial_groups(trials, batch_seeds=False)) == 9
    path.write_text("output: out\nenvs: [CartPole-v1]\nagents: [dqn]\nseeds: [0, 0]\n")
    with pytest.raises(ValueError, match="distinct"):
        load_sweep(path)
