"""No run is ever lost: a training process killed (SIGKILL) at any moment, during a save
or during a resume's log rewrite included, leaves every file loadable, and resuming gives
exactly the uninterrupted run (CPU, fixed seed), with no temporaries left and no log row lost.

Kills land either at a chosen file replacement (the driver below kills its own process
just before the k-th ``os.replace``: the moment a save has written its temporary file) or
after a random delay. The default suite runs 3 trials, ``-m slow`` 24.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from stateful_rl.agents import DQN
from stateful_rl.cli.config import load_run_config

DRIVER = """
import atexit, os, signal, sys
kill_at = int(os.environ.get("KILL_AT_REPLACE", "0"))
count = 0
real_replace = os.replace
def replace(src, dst):
    global count
    count += 1
    if count == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst)
os.replace = replace
if os.environ.get("COUNT_FILE"):
    atexit.register(lambda: open(os.environ["COUNT_FILE"], "w").write(str(count)))
from stateful_rl.cli import main
sys.exit(main(sys.argv[1:]))
"""
TRAIN = [
    "train", "--env", "CartPole-v1", "--agent", "dqn", "--seed", "3", "--device", "cpu",
    "--no-progress", "--set", "steps=400", "checkpoint_freq=100", "log_interval=50",
    "eval_episodes=2", "hyperparams.eval_freq=100", "hyperparams.n_eval_episodes=2",
    "learning_starts=50", "net_arch=[16]", "train_freq=2",
]  # fmt: skip


def run_driver(tmp: Path, args: list[str], kill_at: int = 0, kill_after: float | None = None,
               count_file: Path | None = None) -> int:  # fmt: skip
    """Run the CLI in a subprocess; kill it at a replacement or after a delay; its status."""
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "KILL_AT_REPLACE": str(kill_at), "COUNT_FILE": str(count_file or "")}  # fmt: skip
    proc = subprocess.Popen([sys.executable, str(driver), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(err.decode())
    return proc.returncode


def check_loadable(run: Path) -> None:
    """Every file of a (possibly killed) run directory reads as what it claims to be."""
    if (run / "config.yaml").exists():
        load_run_config(run)
    if (run / "progress.csv").exists():
        with open(run / "progress.csv", newline="") as f:
            rows = list(csv.reader(f))
        assert all(len(r) == len(rows[0]) for r in rows), "ragged progress.csv"
    if (run / "checkpoints" / "training_state.pt").exists():
        torch.load(run / "checkpoints" / "training_state.pt", weights_only=True)
    for name in ("model.zip", "best_model.zip"):
        if (run / name).exists():
            DQN.load(run / name)
    for name in ("eval.json", "evaluations.csv"):
        if (run / name).exists():
            (json.loads if name.endswith("json") else str.splitlines)((run / name).read_text())


def outcome(run: Path) -> dict:
    """What must equal the uninterrupted run: weights, evaluations, log rows, final returns."""
    with zipfile.ZipFile(run / "model.zip") as zf:
        weights = torch.load(__import__("io").BytesIO(zf.read("weights.pt")), weights_only=True)
    with open(run / "progress.csv", newline="") as f:
        rows = [(r["time/total_timesteps"], r.get("train/loss", ""), r.get("eval/mean_reward", ""))
                for r in csv.DictReader(f)]  # fmt: skip
    return {
        "weights": {k: v.numpy().tolist() for k, v in weights["modules"]["q_net"].items()},
        "evaluations": (run / "evaluations.csv").read_text(),
        "rows": rows,
        "returns": json.loads((run / "eval.json").read_text())["returns"],
        "config": yaml.safe_load((run / "config.yaml").read_text()),
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict, int, float]:
    """The uninterrupted run's outcome, its number of file replacements and its duration."""
    tmp = tmp_path_factory.mktemp("reference")
    start = time.perf_counter()
    assert run_driver(tmp, [*TRAIN, "--run-dir", str(tmp / "run")], count_file=tmp / "n") == 0
    return outcome(tmp / "run"), int((tmp / "n").read_text()), time.perf_counter() - start


def kill_and_recover(tmp: Path, reference: tuple[dict, int, float], trial: int) -> None:
    expected, replacements, duration = reference
    rng = np.random.default_rng(trial)
    run = tmp / f"run{trial}"
    mode = ("save", "time", "resume-rewrite")[trial % 3]
    if mode == "time":
        status = run_driver(tmp, [*TRAIN, "--run-dir", str(run)],
                            kill_after=float(rng.uniform(0.3, 1.0)) * duration)  # fmt: skip
    else:
        status = run_driver(tmp, [*TRAIN, "--run-dir", str(run)],
                            kill_at=int(rng.integers(1, replacements + 1)))  # fmt: skip
    check_loadable(run)
    if mode == "resume-rewrite" and (run / "config.yaml").exists():
        # the resume takes the lock (replacement 1: its owner file), rewrites the log (2)
        status = run_driver(tmp, ["train", "--resume", str(run)], kill_at=2)
        check_loadable(run)
    for _ in range(3):  # resume until done (a run killed before its config: train again)
        if status == 0 and (run / "eval.json").exists():
            break
        args = ["train", "--resume", str(run)] if (run / "config.yaml").exists() else [
            *TRAIN, "--run-dir", str(run)]  # fmt: skip
        status = run_driver(tmp, args)
    assert status == 0
    got = outcome(run)
    for key in expected:
        assert got[key] == expected[key], (mode, key)
    leftovers = [p for p in run.rglob("*.tmp")]
    assert not leftovers, leftovers


@pytest.mark.parametrize("trial", range(3))
def test_killed_runs_resume_to_the_uninterrupted_result(tmp_path, reference, trial):
    kill_and_recover(tmp_path, reference, trial)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3, 27))
def test_many_killed_runs_resume_to_the_uninterrupted_result(tmp_path, reference, trial):
    kill_and_recover(tmp_path, reference, trial)
