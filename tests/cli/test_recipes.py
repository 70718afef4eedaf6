"""The benchmarks run the command line's recipes: for the same (env, agent, seed) they build
the run config that ``stateful-rl train`` builds (compared as printed YAML; the benchmarks
run in subprocesses because nothing in the tests imports them)."""

from __future__ import annotations

import pytest
from helpers import cli, run_module


@pytest.mark.parametrize(
    ("bench", "train"),
    [
        (
            ["stateful_rl.bench.race", "print-config", "--env", "stateful_rl/CartPoleNoVel-v0",
             "--seed", "4"],
            ["--env", "CartPoleNoVel-v0", "--agent", "recurrent-dqn", "--seed", "4"],
        ),
        (
            ["stateful_rl.bench.race", "print-config", "--env", "popgym-RepeatPreviousEasy-v0",
             "--seed", "3"],
            ["--import", "popgym", "--env", "popgym-RepeatPreviousEasy-v0", "--agent",
             "recurrent-dqn", "--seed", "3"],
        ),
        (
            ["stateful_rl.bench.agents", "print-config", "rdqn-lstm-tracking", "--seed", "1"],
            ["--env", "OccludedTracking-v1", "--agent", "recurrent-dqn", "--encoder", "lstm",
             "--seed", "1"],
        ),
        (
            ["stateful_rl.bench.agents", "print-config", "esn-dqn-catch", "--seed", "2"],
            ["--env", "OccludedCatch-v1", "--agent", "esn-dqn", "--seed", "2"],
        ),
        (
            ["stateful_rl.bench.agents", "print-config", "dqn-catch"],
            ["--env", "OccludedCatch-v1", "--agent", "dqn"],
        ),
    ],
)  # fmt: skip
def test_benchmark_and_command_line_build_the_same_config(bench, train):
    done = cli("train", *train, "--print-config")
    assert done.returncode == 0, done.stderr
    assert "hyperparams:" in done.stdout
    printed = run_module(*bench)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == done.stdout
