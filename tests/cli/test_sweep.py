"""``stateful-rl sweep``: validation without Ray, a 2×2 grid on a local Ray instance."""

from __future__ import annotations

import csv
import importlib.util

import numpy as np
import pytest
import yaml
from scipy import stats

from stateful_rl.cli import main
from stateful_rl.cli.config import ConfigError
from stateful_rl.cli.sweep import interval95, load_sweep

TINY_SET = {
    "eval_episodes": 3,
    "checkpoint_freq": 0,
    "log_interval": 100,
    "hyperparams.eval_freq": 100,
    "hyperparams.n_eval_episodes": 2,
    "hyperparams.learning_starts": 50,
}


def write_sweep(tmp_path, **spec) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"output": str(tmp_path / "out"), **spec}))
    return str(path)


def test_grid_expands_encoders_only_for_recurrent_agents(tmp_path):
    path = write_sweep(
        tmp_path,
        envs=["CartPole-v1"],
        agents=["dqn", "recurrent-dqn"],
        encoders=["gru", "lstm"],
        seeds=[0, 1],
        steps=100,
        set=TINY_SET,
    )
    _, trials = load_sweep(path)
    labels = sorted({t.label for t in trials})
    assert labels == ["dqn", "recurrent-dqn (gru)", "recurrent-dqn (lstm)"]
    assert len(trials) == 6
    assert all(t.config.hyperparams["eval_freq"] == 100 for t in trials)
    assert {t.config.hyperparams.get("encoder") for t in trials} == {None, "gru", "lstm"}


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"envs": ["CartPole-v1"], "agents": ["dqn"], "seeds": [0], "sedes": 1}, "'sedes'"),
        ({"envs": ["CartPole-v1"], "agents": ["dqn"]}, "needs seeds"),
        ({"envs": ["CartPole-v1"], "agents": ["a2c"], "seeds": [0]}, "unknown agent 'a2c'"),
        ({"envs": ["CartPole-v1"], "agents": ["dqn"], "seeds": 3}, "sweep seeds must be list"),
        (
            {"envs": ["CartPole-v1"], "agents": ["dqn"], "seeds": [0], "set": {"gama": 1}},
            "'gama'",
        ),
    ],
)
def test_bad_sweep_files_are_rejected_before_ray(tmp_path, capsys, spec, named):
    path = write_sweep(tmp_path, **spec)
    with pytest.raises(ConfigError):
        load_sweep(path)
    assert main(["sweep", "--config", path]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_interval95_is_the_student_t_half_width():
    values = np.array([1.0, 2.0, 4.0])
    expected = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / np.sqrt(3)
    assert interval95(values) == pytest.approx(expected)
    assert interval95(np.array([5.0])) == 0.0


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed (optional extra: pip install 'stateful-rl[sweep]')",
)
def test_two_by_two_sweep_on_local_ray(tmp_path):
    path = write_sweep(
        tmp_path,
        envs=["CartPole-v1"],
        agents=["dqn", "recurrent-dqn"],
        encoders=["gru"],
        seeds=[0, 1],
        steps=200,
        set=TINY_SET,
        agent_set={"recurrent-dqn": {"hyperparams.encoder_kwargs": {"hidden_size": 8}}},
        cpus_per_trial=1,
    )
    assert main(["sweep", "--config", path, "--num-cpus", "2"]) == 0
    out = tmp_path / "out"
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    assert {(r["agent"], r["seed"]) for r in rows} == {
        ("dqn", "0"), ("dqn", "1"), ("recurrent-dqn", "0"), ("recurrent-dqn", "1"),
    }  # fmt: skip
    with open(out / "summary.csv") as f:
        summary = {r["configuration"]: r for r in csv.DictReader(f)}
    assert set(summary) == {"dqn", "recurrent-dqn (gru)"}
    for config, row in summary.items():
        label = lambda r: r["agent"] + (f" ({r['encoder']})" if r["encoder"] else "")  # noqa: E731
        finals = [float(r["mean_return"]) for r in rows if label(r) == config]
        assert len(finals) == 2
        assert float(row["mean_return"]) == pytest.approx(np.mean(finals))
        half = interval95(np.array(finals))
        assert float(row["ci95_high"]) == pytest.approx(np.mean(finals) + half)
    assert (out / "comparison_CartPole-v1.png").read_bytes()[:4] == b"\x89PNG"
