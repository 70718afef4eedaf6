"""A non-editable wheel install imports and registers every environment."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def isolation_flags() -> list[str]:
    """Build with this venv's setuptools when it can (fast, offline); pyproject's
    ``license = "MIT"`` needs setuptools >= 77, else pip builds in isolation."""
    try:
        major = int(version("setuptools").split(".")[0])
    except PackageNotFoundError:
        return []
    return ["--no-build-isolation"] if major >= 77 else []


def test_wheel_install_imports_and_registers(tmp_path):
    # Build from a clean copy: an in-tree build would leave (and reuse) build/ in the repo.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "envs", "encoders", "agents", "scripts"):
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation_flags(), "-q",
         "-w", str(wheels), str(source)],
        check=True, capture_output=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = wheels.glob("stateful_rl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "stateful_rl/envs/tracking.py" in names and "stateful_rl/__init__.py" in names
    assert "stateful_rl/envs/salamander/neural_cpg.json" in names  # the fitted CPG
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    # Run outside the repo with the wheel's copy first on the path (ahead of the
    # editable finder, which only answers what the path does not).
    code = (
        "import sys, gymnasium as gym, stateful_rl, stateful_rl.envs\n"
        f"assert stateful_rl.__file__.startswith({str(site)!r}), stateful_rl.__file__\n"
        "for name in ['OccludedTracking-v0', 'OccludedCatch-v0', 'CartPoleNoVel-v0',\n"
        "             'PendulumNoVel-v0', 'AcrobotNoVel-v0', 'CartPoleFlicker-v0']:\n"
        "    env = gym.make('stateful_rl/' + name); env.reset(seed=0)\n"
        "vec = gym.make_vec('stateful_rl/OccludedTracking-v0', 4); vec.reset(seed=0)\n"
        "import stateful_rl.encoders, stateful_rl.agents, stateful_rl.cli.main\n"
        "import stateful_rl.bench.envs, stateful_rl.report.results\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
