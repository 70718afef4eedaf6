"""Helpers shared by test modules (on pytest's ``pythonpath``: ``from helpers import cli``)."""

import os
import subprocess
import sys
from pathlib import Path


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m stateful_rl.cli ARGS`` (the console script's code) in a subprocess."""
    return run_module("stateful_rl.cli", *args, cwd=cwd)


def run_module(module: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m MODULE ARGS`` in a subprocess (how the tests run a benchmark or a
    report: they never import one)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )
