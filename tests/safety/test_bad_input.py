"""Bad input gets a clear error that names the problem, and run directories stay whole."""

from __future__ import annotations

import errno
import json
import os

import gymnasium as gym
import numpy as np
import pytest

import stateful_rl.envs  # noqa: F401
from stateful_rl.agents import DQN, RecurrentDQN
from stateful_rl.agents import replay as replay_module
from stateful_rl.cli import evaluate as evaluate_module
from stateful_rl.cli import main
from stateful_rl.cli.run_dir import RunDirectory


# ------------------------------------------------------------------ agents
@pytest.mark.parametrize("make", [lambda: DQN("CartPole-v1", net_arch=(8,)),
                                  lambda: RecurrentDQN("CartPole-v1", encoder="gru")])  # fmt: skip
def test_predict_refuses_nan_observations(make):
    agent = make()
    with pytest.raises(ValueError, match="NaN or inf"):
        agent.predict(np.full(4, np.nan))
    with pytest.raises(ValueError, match="episode_start has 3 entries"):
        agent.predict(np.zeros((2, 4)), episode_start=np.ones(3, bool))


def test_predict_refuses_misshaped_or_nan_recurrent_states():
    agent = RecurrentDQN("CartPole-v1", encoder="gru", encoder_kwargs={"hidden_size": 8})
    _, state = agent.predict(np.zeros(4))  # a batch of one
    with pytest.raises(ValueError, match="shapes"):
        agent.predict(np.zeros((2, 4)), state)  # was silently broadcast
    with pytest.raises(ValueError, match="NaN or inf"):
        agent.predict(np.zeros(4), tuple(np.full_like(s, np.nan, dtype=float) for s in state))
    with pytest.raises(ValueError, match="shapes"):
        agent.predict(np.zeros(4), state[:-1])


def test_load_refuses_a_model_for_other_spaces(tmp_path):
    DQN("stateful_rl/OccludedCatch-v0", net_arch=(8,)).save(tmp_path / "catch.zip")
    assert gym.make("stateful_rl/AcrobotNoVel-v0").observation_space.shape == (4,)
    with pytest.raises(ValueError, match="observation space mismatch"):
        DQN.load(tmp_path / "catch.zip", env="stateful_rl/AcrobotNoVel-v0")


def test_replay_buffer_that_cannot_fit_is_refused_with_a_size_that_does(monkeypatch):
    monkeypatch.setattr(replay_module, "memory_available", lambda: 8 * 2**30)
    env = gym.make("stateful_rl/OccludedTracking-v0", obs_type="pixels")
    with pytest.raises(ValueError, match=r"25\.\d GiB.*buffer_size \(e\.g\. 155"):
        DQN(env)  # 48x48x3 float32 observations x 1e6 transitions
    DQN(env, buffer_size=100_000)


@pytest.mark.parametrize("name", ["CartPoleNoVel-v0", "AcrobotNoVel-v0", "CartPoleFlicker-v0"])
def test_classic_memory_envs_check_discrete_actions(name):
    env = gym.make(f"stateful_rl/{name}")
    env.reset(seed=0)
    for bad in (-1, 7, 1.5, np.array([1, 0]), "left"):
        with pytest.raises(ValueError, match="action must be an integer"):
            env.step(bad)
    env.step(np.int64(1))


def test_pendulum_no_velocity_checks_box_actions():
    env = gym.make("stateful_rl/PendulumNoVel-v0")
    env.reset(seed=0)
    for bad, message in (
        (np.array([np.nan]), "finite"),
        (np.ones((1, 1)), "shape"),
        (np.array([2.5]), "lie in"),
    ):
        with pytest.raises(ValueError, match=message):
            env.step(bad)
    obs = env.step(np.array([0.5]))[0]
    assert obs.shape == (2,) and np.isfinite(obs).all()


# ------------------------------------------------------------------ command line
def test_absent_devices_are_refused_before_writing(tmp_path, capsys):
    base = ["train", "--env", "CartPole-v1", "--agent", "dqn", "--run-dir", str(tmp_path / "r")]
    if not __import__("torch").cuda.is_available():
        for device in ("cuda", "cuda:99"):
            assert main([*base, "--device", device]) == 2
            assert "no CUDA device" in capsys.readouterr().err
    assert main([*base, "--device", "tpu"]) == 2
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("env", "kwarg"),
    [
        ("OccludedTracking-v1", "tracker_speed=inf"),
        ("OccludedTracking-v1", "noise=nan"),
        ("SalamanderSwim-v1", "energy_weight=nan"),
    ],
)
def test_non_finite_env_kwargs_are_refused_before_writing(tmp_path, capsys, env, kwarg):
    run_dir = tmp_path / "r"
    args = ["train", "--env", env, "--agent", "dqn", "--run-dir", str(run_dir)]
    assert main([*args, "--set", f"env_kwargs.{kwarg}"]) == 2
    assert f"{kwarg.split('=')[0]} must be a finite number" in capsys.readouterr().err
    assert not run_dir.exists()


def test_eval_refuses_zero_episodes(run):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(run.root), "--episodes", "0"])
    assert exit_info.value.code == 2


def test_video_without_a_renderer_fails_before_evaluating(run, monkeypatch, capsys):
    make = gym.make

    def make_without_renderer(env_id, render_mode=None, **kwargs):
        env = make(env_id, render_mode=render_mode, **kwargs)
        if render_mode is not None:  # as classic control without pygame

            def render():
                raise gym.error.DependencyNotInstalled("pygame is not installed")

            env.render = render
        return env

    monkeypatch.setattr(evaluate_module.gym, "make", make_without_renderer)
    evaluated = []
    monkeypatch.setattr(evaluate_module, "evaluate_model", lambda *a: evaluated.append(a))
    assert main(["eval", str(run.root), "--video"]) == 2
    err = capsys.readouterr().err
    assert "cannot render here" in err and len(err.strip().splitlines()) == 1
    assert not evaluated


def test_write_failures_are_one_line_and_eval_still_prints(run, monkeypatch, capsys):
    def disk_full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr("stateful_rl.cli.run_dir.write_atomic", disk_full)
    monkeypatch.setattr("stateful_rl.cli.evaluate.write_json", lambda p, d: disk_full(p, d))
    before = run.eval_json.read_text()
    assert main(["eval", str(run.root), "--episodes", "2"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["episodes"] == 2
    assert "result not saved" in out.err and "No space left" in out.err
    assert run.eval_json.read_text() == before  # the training's evaluation is untouched
    assert main(["train", "--env", "CartPole-v1", "--agent", "dqn", "--steps", "60",
                 "--run-dir", str(run.root.parent / "other"), "--no-progress"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "No space left" in err and len(err.strip().splitlines()) <= 2  # run dir line + error


def test_eval_keeps_the_training_evaluation(run):
    before = run.eval_json.read_text()
    assert main(["eval", str(run.root), "--episodes", "3", "--model", "model"]) == 0
    assert run.eval_json.read_text() == before
    assert json.loads((run.root / "eval-model.json").read_text())["episodes"] == 3


# ------------------------------------------------------------------ run directories
def test_a_run_in_use_is_refused_naming_its_holder(run, tmp_path, capsys):
    with run.lock("train"):
        for argv in (
            ["train", "--resume", str(run.root)],
            ["eval", str(run.root)],
            ["train", "--env", "CartPole-v1", "--agent", "dqn", "--run-dir", str(run.root)],
        ):
            code = main(argv)
            err = capsys.readouterr().err
            assert code == 2, argv
            if "--run-dir" not in argv:
                assert f"process {os.getpid()}" in err and "(train, since" in err
    empty = RunDirectory(tmp_path / "empty")
    empty.root.mkdir()
    with empty.lock("train"):
        argv = ["train", "--env", "CartPole-v1", "--agent", "dqn", "--steps", "60"]
        assert main([*argv, "--run-dir", str(empty.root)]) == 2
        assert "in use by process" in capsys.readouterr().err
    assert not (empty.root / "config.yaml").exists()


def test_stale_temporaries_are_removed_on_resume(run):
    stale = [
        run.checkpoint.parent / ".training_state.pt.abc123.tmp",
        run.root / ".model.zip.x1.tmp",
        run.root / ".best_model.zip.x2.tmp",
    ]
    for path in stale:
        path.write_bytes(b"half a file")
    assert main(["train", "--resume", str(run.root), "--no-progress"]) == 0
    assert not [p for p in stale if p.exists()]


def test_resuming_a_finished_run_changes_nothing(run):
    files = {p: p.read_bytes() for p in (run.progress, run.evaluations, run.checkpoint)}
    assert main(["train", "--resume", str(run.root), "--no-progress"]) == 0
    for path, data in files.items():
        assert path.read_bytes() == data, path
