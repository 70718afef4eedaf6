"""The run directory of one training run, and its loggers (CSV and TensorBoard, resumable).

Layout (the rl-baselines3-zoo / CleanRL artefacts)::

    RUN_DIR/config.yaml                 resolved configuration (a valid ``--config`` file)
    RUN_DIR/progress.csv                SB3 logger rows every ``log_interval`` env steps
    RUN_DIR/events.out.tfevents.*       TensorBoard (``tensorboard --logdir RUN_DIR``)
    RUN_DIR/checkpoints/training_state.pt   full training state (``--resume``)
    RUN_DIR/model.zip, best_model.zip   final policy, best periodic evaluation (``Agent.load``)
    RUN_DIR/evaluations.csv             step, mean and std return of each periodic evaluation
    RUN_DIR/learning_curve.png          that curve with a ±1 std band
    RUN_DIR/eval.json                   final evaluation of the trained model (after training)
    RUN_DIR/eval-<model>.json           ``stateful-rl eval`` results (``--out`` to choose)
    RUN_DIR/videos/                     videos from ``stateful-rl eval --video``
    RUN_DIR/.lock, .lock.owner          held by the process writing the run (see ``lock``)

Every file is written atomically (temporary file, then rename), the progress log included:
a kill at any moment leaves each file either as it was or as it is meant to be, at worst
with a stray temporary (``.<name>.*.tmp``) that the next writer removes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from filelock import FileLock, Timeout
from stable_baselines3.common.logger import (
    KVWriter,
    Logger,
    TensorBoardOutputFormat,
    filter_excluded_keys,
)
from torch.utils.tensorboard import SummaryWriter

from stateful_rl.agents.persistence import write_atomic
from stateful_rl.cli.config import ConfigError, RunConfig

STEP_KEY = "time/total_timesteps"


def logged_before(step: str, resume_step: int) -> bool:
    """Whether a progress row whose step column reads ``step`` belongs before the checkpoint
    (rows that do not read as a step cannot be ours and are dropped)."""
    try:
        return float(step or 0) <= resume_step
    except ValueError:
        return False


class ProgressCSVOutputFormat(KVWriter):
    """SB3's CSV log (same columns and values), but never rewritten in place: a row is
    appended; a new column, or continuing after a checkpoint at env step ``resume_step``
    (rows logged after it are dropped: training logs them again), rewrites the file
    atomically. SB3's own writer rewrites the file in place when a column appears, so a
    kill at that moment could leave it empty or mixed."""

    def __init__(self, filename: str | Path, resume_step: int | None = None) -> None:
        self.path = Path(filename)
        self.keys: list[str] = []
        rows: list[list[str]] = []
        if resume_step is not None and self.path.exists():
            with open(self.path, newline="") as old:
                header, *rows = list(csv.reader(old)) or [[]]
            self.keys = header
            if STEP_KEY in header:
                column = header.index(STEP_KEY)
                rows = [
                    r for r in rows if len(r) > column and logged_before(r[column], resume_step)
                ]
        self._rewrite(rows)

    def _rewrite(self, rows: list[list[str]]) -> None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        if self.keys:
            writer.writerow(self.keys)
        writer.writerows(r + [""] * (len(self.keys) - len(r)) for r in rows)
        if getattr(self, "file", None) is not None:
            self.file.close()
        write_atomic(self.path, text.getvalue().encode())
        self.file = open(self.path, "a", newline="")

    def write(
        self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0
    ) -> None:
        key_values = filter_excluded_keys(key_values, key_excluded, "csv")
        extra = [k for k in key_values if k not in self.keys]
        if extra:
            with open(self.path, newline="") as old:
                rows = list(csv.reader(old))[1:]
            self.keys.extend(extra)
            self._rewrite(rows)
        row = ["" if key_values.get(k) is None else str(key_values[k]) for k in self.keys]
        csv.writer(self.file, lineterminator="\n").writerow(row)
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class ResumedTensorBoardOutputFormat(TensorBoardOutputFormat):
    """SB3's TensorBoard writer that purges events after env step ``step`` from older files."""

    def __init__(self, folder: str, step: int) -> None:
        # Not super().__init__: its writer would have no purge_step and leave an empty file.
        self.writer = SummaryWriter(log_dir=folder, purge_step=step + 1)
        self._is_closed = False


@dataclass(frozen=True)
class RunDirectory:
    """Paths of one run's artefacts (see the module docstring)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def progress(self) -> Path:
        return self.root / "progress.csv"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoints" / "training_state.pt"

    @property
    def model(self) -> Path:
        return self.root / "model.zip"

    @property
    def best_model(self) -> Path:
        return self.root / "best_model.zip"

    @property
    def evaluations(self) -> Path:
        return self.root / "evaluations.csv"

    @property
    def learning_curve(self) -> Path:
        return self.root / "learning_curve.png"

    @property
    def eval_json(self) -> Path:
        return self.root / "eval.json"

    @property
    def videos(self) -> Path:
        return self.root / "videos"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def owner_file(self) -> Path:
        return self.root / ".lock.owner"

    @contextlib.contextmanager
    def lock(self, command: str) -> Iterator[None]:
        """Hold the run's exclusive lock while writing it; another process holding it makes
        this raise :class:`ConfigError` naming that process (who, where, since when, doing
        what). Removes stale temporaries left by a killed writer once the lock is held."""
        lock = FileLock(self.lock_file, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise ConfigError(
                f"run directory {self.root} is in use by {self.owner()}: wait for it to finish "
                "or choose another --run-dir"
            ) from None
        try:
            owner = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                     "since": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
            write_atomic(self.owner_file, json.dumps(owner).encode())
            self.remove_stale_temporaries()
            yield
        finally:
            self.owner_file.unlink(missing_ok=True)
            lock.release()

    def owner(self) -> str:
        """Who holds the lock, as recorded in ``.lock.owner`` (best effort)."""
        try:
            info = json.loads(self.owner_file.read_text())
            return (
                f"process {info['pid']} on {info['host']} ({info['command']}, since "
                f"{info['since']})"
            )
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete ``.<name>.*.tmp`` files that a killed atomic write left behind."""
        stale = [p for folder in (self.root, self.checkpoint.parent, self.videos)
                 for p in folder.glob(".*.tmp")]  # fmt: skip
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def is_new(self) -> bool:
        """Whether the directory holds nothing but lock files and stale temporaries (a run
        killed before writing its config.yaml leaves only those: it can start here again)."""
        ours = {self.lock_file.name, self.owner_file.name}
        return not self.root.exists() or all(
            p.name in ours or (p.name.startswith(".") and p.name.endswith(".tmp"))
            for p in self.root.iterdir()
        )

    def write_config(self, config: RunConfig) -> None:
        text = yaml.safe_dump(config.to_dict(), sort_keys=False)
        write_atomic(self.config, text.encode())

    def logger(self, resume_step: int | None = None) -> Logger:
        """CSV + TensorBoard logger; after a checkpoint at ``resume_step`` it continues them."""
        self.root.mkdir(parents=True, exist_ok=True)
        csv_format = ProgressCSVOutputFormat(self.progress, resume_step)
        if resume_step is None:
            tb_format = TensorBoardOutputFormat(str(self.root))
        else:
            tb_format = ResumedTensorBoardOutputFormat(str(self.root), resume_step)
        return Logger(folder=str(self.root), output_formats=[csv_format, tb_format])

    def write_evaluations(self, history: list[tuple[int, float, float]]) -> None:
        """``step,mean,std`` rows of the periodic evaluations."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["step", "mean_return", "std_return"])
        writer.writerows(history)
        write_atomic(self.evaluations, out.getvalue().encode())

    def read_evaluations(self) -> np.ndarray:
        """``[n_evaluations, 3]`` array of (step, mean, std); empty when there were none."""
        if not self.evaluations.exists():
            return np.zeros((0, 3))
        rows = self.evaluations.read_text().splitlines()[1:]  # after the header
        if not rows:
            return np.zeros((0, 3))
        return np.loadtxt(rows, delimiter=",", ndmin=2).reshape(-1, 3)


def fresh_dir(path: Path) -> Path:
    """``path``, or ``path_2``, ``path_3``... if it holds files already (a name; the run
    claims the directory by taking its lock, see :meth:`RunDirectory.lock`)."""
    candidate, n = path, 1
    while not RunDirectory(candidate).is_new():
        n += 1
        candidate = path.with_name(f"{path.name}_{n}")
    return candidate


def write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` as indented JSON, atomically."""
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())
