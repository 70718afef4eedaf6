"""The race benchmark runs both methods on a POPGym task (a short smoke run each: the
RecurrentPPO side must build its envs as POPGym's constructors accept them)."""

from __future__ import annotations

import json
import math

import pytest
from helpers import run_module


@pytest.mark.parametrize("method", ["ours", "rppo"])
def test_race_runs_a_popgym_task(method):
    done = run_module("stateful_rl.bench.race", "run", "--method", method, "--env",
                      "popgym-RepeatPreviousEasy-v0", "--seed", "0", "--steps", "512")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["method"], result["env"], result["seed"]) == (
        method,
        "popgym-RepeatPreviousEasy-v0",
        0,
    )
    assert math.isfinite(result["kept"]) and -1.0 <= result["kept"] <= 1.0
