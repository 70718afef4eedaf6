"""Claim 1: a per-frame network cannot track an occluded target; a recurrent one can.

The task is OccludedTracking's 1-D oscillator seen through occluders: encoders are trained
to report the true position at every step, and their error on occluded steps is compared
with a memoryless reference and with the Bayes-optimal filter (here the Kalman filter of
the true linear-Gaussian model). Its data, training and prediction functions are shared with
``python -m stateful_rl.bench.encoders tracking``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from stateful_rl.claims.base import Break, Patcher, Verdict
from stateful_rl.encoders import ElmanEncoder, GRUEncoder, LSTMEncoder, StateEncoder, make_encoder
from stateful_rl.encoders.ridge import encode_in_chunks, gated_features

NUMBER = 1
TITLE = "A per-frame network cannot track an occluded target; a recurrent one can"
CLAIM = (
    "On occluded steps a per-frame network's position error is many times a recurrent "
    "network's, which comes close to the Bayes-optimal filter (the Kalman filter that knows "
    "the true dynamics)."
)
PROCESS_NOISE = 0.01  # velocity noise per step: the target stays predictable while hidden
POSITION_STD = 0.25  # ≈ standard deviation of the oscillator's position (both dims)
VISIBLE_WEIGHT = 30.0
TRAINED = {  # name: (kind, kwargs, updates of the encoder benchmark), in the order they run
    "per-frame": ("feedforward", {"hidden_sizes": (64, 64)}, 3000),
    "LSTM": ("lstm", {"hidden_size": 64}, 10_000),
    "GRU": ("gru", {"hidden_size": 64}, 8000),
    "frame-stack(4)": ("framestack", {"k": 4, "hidden_sizes": (64, 64)}, 3000),
    "Elman": ("elman", {"hidden_size": 64, "leading_eigenvalue": 0.95}, 15_000),
}
MEMORYLESS = ("per-frame",)
RECURRENT = ("Elman", "LSTM", "GRU")


@dataclass(frozen=True)
class Budget:
    """Training and test sequences, their length, updates per model, the models run, and how
    close to the Bayes filter the best recurrent model must come at this budget (occluded MSE
    ratio: 300 updates leave an LSTM ~13× the Kalman filter's error, 1000 about 4×)."""

    sequences: int = 256
    steps: int = 200
    updates: int = 1000
    test_sequences: int = 64
    models: tuple[str, ...] = ("per-frame", "frame-stack(4)", "Elman", "LSTM", "GRU")
    closeness: float = 5.0

    @classmethod
    def quick(cls) -> Budget:
        return cls(
            sequences=64,
            steps=100,
            updates=300,
            test_sequences=32,
            models=("per-frame", "LSTM"),
            closeness=25.0,
        )


def tracking_data(
    dim: int, sequences: int, steps: int, seed: int, unit: float = 1.0
) -> dict[str, np.ndarray]:
    """Oscillator sequences of OccludedTracking-v0 (default occluders, ≈ 43% occluded):
    inputs ``[seen position, visible]`` ``x[T, B, dim + 1]``, targets the true positions
    ``y[T, B, dim]``, ``visible[T, B]`` and the Kalman estimates ``kalman[T, B, dim]``.

    Positions are in units of ``unit`` (inputs and targets of unit variance train faster;
    MSE ratios to the Kalman filter do not depend on it).
    """
    from stateful_rl.envs.registration import TRACKING_V0
    from stateful_rl.envs.tracking import TrackingTask

    task = TrackingTask(**TRACKING_V0, dim=dim, dynamics="oscillator", process_noise=PROCESS_NOISE)
    states, seen, visible = task.simulate(steps, sequences, seed=seed)
    filtered, _ = task.kalman_filter().filter(seen, visible)
    return {
        "x": np.concatenate([seen / unit, visible[..., None]], axis=-1).astype(np.float32),
        "y": (states[..., :dim] / unit).astype(np.float32),
        "visible": visible,
        "kalman": filtered[..., :dim] / unit,
    }


def masked_mse(pred: np.ndarray, data: dict[str, np.ndarray]) -> tuple[float, float]:
    """MSE of ``pred[T, B, dim]`` on occluded and on visible steps."""
    err = ((pred - data["y"]) ** 2).sum(-1)
    return float(err[~data["visible"]].mean()), float(err[data["visible"]].mean())


class VisibilityGatedHead(nn.Linear):
    """Linear readout of ``[z, v z]`` for ``z = [features, x]`` whose last entry ``v`` is the
    visibility flag: one linear map cannot switch between filtering the observation and
    extrapolating while hidden; the multiplicative flag lets it (as the gated ESN readout).

    ``z[..., D]`` -> ``y[..., O]``.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(2 * in_features, out_features)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return super().forward(gated_features(z, z[..., -1:]))


def train_encoder(
    encoder: StateEncoder, data: dict[str, np.ndarray], updates: int, batch: int = 32, seed: int = 0
) -> nn.Module:
    """Fit encoder + :class:`VisibilityGatedHead` on ``[features, x]`` to the true positions;
    returns the head.

    Loss: MSE on occluded steps + ``VISIBLE_WEIGHT`` × MSE on visible steps (the visible
    errors are ~60× smaller and would otherwise get no attention); Adam 3e-3 with cosine
    decay to 0, gradient-norm clip 1, random mini-batches of whole sequences.
    """
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    visible = torch.from_numpy(data["visible"]).unsqueeze(-1)
    head = VisibilityGatedHead(encoder.features_dim + x.shape[-1], y.shape[-1])
    params = [*encoder.parameters(), *head.parameters()]
    optimiser = torch.optim.Adam(params, lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, updates)
    starts = torch.zeros(x.shape[0], batch, dtype=torch.bool)
    starts[0] = True
    for _ in range(updates):
        idx = torch.randint(x.shape[1], (batch,), generator=generator)
        features, _ = encoder(x[:, idx], encoder.initial_state(batch), starts)
        err = (head(torch.cat([features, x[:, idx]], -1)) - y[:, idx]).pow(2).sum(-1, keepdim=True)
        seen = visible[:, idx]
        loss = err[~seen].mean() + VISIBLE_WEIGHT * err[seen].mean()
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
    return head


@torch.no_grad()
def predict(
    encoder: StateEncoder, readout: Callable, data: dict[str, np.ndarray], **kw: Any
) -> np.ndarray:
    """Predictions ``[T, B, dim]`` of ``readout(features, x)`` over the test sequences."""
    x = torch.from_numpy(data["x"])
    outs = [readout(f, c) for c, f in encode_in_chunks(encoder, x, chunk_size=x.shape[0], **kw)]
    return torch.cat(outs).numpy()


def run(budget: Budget) -> dict[str, Any]:
    """Train each model of ``budget.models`` (seed 0) and predict the test sequences:
    occluded/visible MSE per model and of the Kalman filter, one test sequence's traces."""
    train = tracking_data(1, budget.sequences, budget.steps, seed=1)
    test = tracking_data(1, budget.test_sequences, budget.steps, seed=2)
    mse, traces = {}, {}
    for name in budget.models:
        kind, kwargs, _ = TRAINED[name]
        torch.manual_seed(0)
        encoder = make_encoder(kind, 2, **kwargs)
        head = train_encoder(encoder, train, budget.updates)
        pred = predict(encoder, lambda f, c, h=head: h(torch.cat([f, c], -1)), test)
        mse[name] = masked_mse(pred, test)
        traces[name] = pred[:, 0, 0]
    return {
        "mse": mse,
        "closeness": budget.closeness,
        "kalman": masked_mse(test["kalman"], test),
        "occluded_fraction": float((~test["visible"]).mean()),
        "trace": {
            "visible": test["visible"][:, 0],
            "true": test["y"][:, 0, 0],
            "kalman": test["kalman"][:, 0, 0],
            **traces,
        },
    }


def verdict(
    evidence: dict[str, Any],
    bayes_mse: float | None = None,
    memoryless_mse: float | None = None,
    gap: float = 5.0,
    closeness: float | None = None,
) -> Verdict:
    """The best memoryless occluded MSE is ≥ ``gap`` × the best recurrent model's, and that is
    ≤ ``closeness`` (default: the budget's) × the Bayes filter's. References default to the
    evidence's Kalman filter (``bayes_mse``) and its best trained memoryless model
    (``memoryless_mse``)."""
    closeness = evidence["closeness"] if closeness is None else closeness
    occluded = {name: value[0] for name, value in evidence["mse"].items()}
    bayes = evidence["kalman"][0] if bayes_mse is None else bayes_mse
    recurrent = [occluded[n] for n in RECURRENT if n in occluded]
    if memoryless_mse is None:
        memoryless_mse = min(occluded[n] for n in MEMORYLESS if n in occluded)
    best = min(recurrent)
    numbers = {
        "ratio_to_bayes": {n: v / bayes for n, v in occluded.items()},
        "memoryless_over_best_recurrent": memoryless_mse / best,
        "best_recurrent_over_bayes": best / bayes,
        "bayes_mse": bayes,
        "memoryless_mse": memoryless_mse,
    }
    return Verdict(
        memoryless_mse >= gap * best and best <= closeness * bayes,
        f"memoryless occluded MSE ≥ {gap:g} × the best recurrent encoder's, which is ≤ "
        f"{closeness:g} × the Bayes filter's",
        numbers,
    )


def _memory_wiped(patcher: Patcher) -> None:
    """Recurrent encoders whose state is reset before every step: no memory left."""
    for cls in (ElmanEncoder, LSTMEncoder, GRUEncoder):

        def forward(
            self: StateEncoder,
            x: torch.Tensor,
            state: tuple[torch.Tensor, ...],
            starts: torch.Tensor,
            original: Callable = cls.forward,
        ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
            return original(self, x, state, torch.ones_like(starts))

        patcher.setattr(cls, "forward", forward)


BREAKS = (Break("recurrent encoders reset their state at every step (no memory)", _memory_wiped),)
