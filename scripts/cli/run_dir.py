"""The run directory of one training run, and its loggers (CSV and TensorBoard, resumable).

Layout (the rl-baselines3-zoo / CleanRL artefacts)::

    RUN_DIR/config.yaml                 resolved configuration (a valid ``--config`` file)
    RUN_DIR/progress.csv                SB3 logger rows every ``log_interval`` env steps
    RUN_DIR/events.out.tfevents.*       TensorBoard (``tensorboard --logdir RUN_DIR``)
    RUN_DIR/checkpoints/training_state.pt   full training state (``--resume``)
    RUN_DIR/model.zip, best_model.zip   final policy, best periodic evaluation (``Agent.load``)
    RUN_DIR/evaluations.csv             step, mean and std return of each periodic evaluation
    RUN_DIR/learning_curve.png          that curve with a ±1 std band
    RUN_DIR/eval.json                   ``stateful-rl eval`` result (written after training too)
    RUN_DIR/videos/                     GIFs from ``stateful-rl eval --video``

Every file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat
from torch.utils.tensorboard import SummaryWriter

from stateful_rl.agents.persistence import write_atomic
from stateful_rl.cli.config import RunConfig

STEP_KEY = "time/total_timesteps"


class ResumedCSVOutputFormat(CSVOutputFormat):
    """SB3's CSV writer continuing an existing file after a checkpoint at env step ``step``:
    rows logged after the checkpoint are dropped (training logs them again)."""

    def __init__(self, filename: str, step: int) -> None:
        with open(filename, newline="") as old:
            rows = list(csv.reader(old))
        super().__init__(filename)  # truncates the file
        if rows:
            header = rows[0]
            column = header.index(STEP_KEY) if STEP_KEY in header else None
            kept = [r for r in rows[1:] if column is None or float(r[column] or 0) <= step]
            writer = csv.writer(self.file, lineterminator="\n")  # SB3 strips one "\n" per line
            writer.writerow(header)
            writer.writerows(kept)
            self.file.flush()
            self.keys = header


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

    def write_config(self, config: RunConfig) -> None:
        text = yaml.safe_dump(config.to_dict(), sort_keys=False)
        write_atomic(self.config, text.encode())

    def logger(self, resume_step: int | None = None) -> Logger:
        """CSV + TensorBoard logger; after a checkpoint at ``resume_step`` it continues them."""
        self.root.mkdir(parents=True, exist_ok=True)
        if resume_step is None or not self.progress.exists():
            csv_format = CSVOutputFormat(str(self.progress))
            tb_format = TensorBoardOutputFormat(str(self.root))
        else:
            csv_format = ResumedCSVOutputFormat(str(self.progress), resume_step)
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
    """``path``, or ``path_2``, ``path_3``... if it holds files already."""
    candidate, n = path, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = path.with_name(f"{path.name}_{n}")
    return candidate


def write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` as indented JSON, atomically."""
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())
