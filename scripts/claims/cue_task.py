"""The cue-recall task of claims 5 and 6: a ±1 cue, distractor noise, the class read later.

A sequence has two channels: channel 0 holds a ±1 cue at one step (zeros elsewhere),
channel 1 is N(0, 1) distractor noise at every step; the cue's sign is read at the last
step. An encoder with a linear head is trained on it with binary cross-entropy (Adam,
gradient-norm clip 1) and scored by its accuracy on fresh sequences (chance: 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from stateful_rl.encoders import StateEncoder, make_encoder
from stateful_rl.encoders.recurrent import chrono_init

VALIDATION_SEED = 10**6  # fresh sequences for the accuracy: seed + this offset


def cue_batch(
    steps: int, batch: int, generator: torch.Generator, cue_window: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A ±1 cue in channel 0 at a step uniform in ``[0, cue_window)``, zeros elsewhere;
    channel 1 is N(0, 1) distractor noise at every step. Returns ``x[T, B, 2]``, the
    cue's class ``y[B]`` (0/1) and its step ``[B]``."""
    y = torch.randint(0, 2, (batch,), generator=generator)
    when = torch.randint(0, cue_window, (batch,), generator=generator)
    x = torch.zeros(steps, batch, 2)
    x[when, torch.arange(batch), 0] = y.float() * 2 - 1
    x[..., 1] = torch.randn(steps, batch, generator=generator)
    return x, y, when


@dataclass(frozen=True)
class CueModel:
    """An encoder for the task: ``kind`` and keyword arguments for :func:`make_encoder`;
    ``chrono``: chrono-initialise an LSTM's gate biases for the task's lag."""

    kind: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    chrono: bool = False


@dataclass
class CueRun:
    """A trained encoder and head, and the accuracy history ``[(update, accuracy)]``."""

    encoder: StateEncoder
    head: nn.Linear
    history: list[tuple[int, float]]

    @property
    def accuracy(self) -> float:
        """The last measured accuracy."""
        return self.history[-1][1]

    def updates_to(self, threshold: float) -> int | None:
        """The first update count whose accuracy reached ``threshold`` (None: never)."""
        return next((u for u, a in self.history if a >= threshold), None)


def last_step_logits(encoder: StateEncoder, head: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """The head's logit at the last step of ``x[T, B, 2]`` (one episode per sequence): ``[B]``."""
    starts = torch.zeros(x.shape[:2], dtype=torch.bool)
    starts[0] = True
    features, _ = encoder(x, encoder.initial_state(x.shape[1]), starts)
    return head(features[-1]).squeeze(-1)


def train_cue_classifier(
    model: CueModel,
    steps: int,
    updates: int,
    cue_window: int = 1,
    hidden: int = 32,
    seed: int = 0,
    lr: float = 3e-3,
    batch: int = 64,
    eval_every: int | None = None,
    stop_at: float | None = None,
    eval_sequences: int = 512,
) -> CueRun:
    """Train ``model`` with a linear head on sequences of ``steps`` steps (BCE, Adam at
    ``lr``, grad-norm clip 1, ``batch`` sequences per update; weights and data from
    ``seed``). The accuracy on ``eval_sequences`` fresh sequences is measured every
    ``eval_every`` updates (default: only at the end); training stops early once it
    reaches ``stop_at``."""
    torch.manual_seed(seed)
    encoder = make_encoder(model.kind, 2, hidden_size=hidden, **model.kwargs)
    if model.chrono:
        chrono_init(encoder.rnn, steps, torch.Generator().manual_seed(seed))
    head = nn.Linear(hidden, 1)
    params = [*encoder.parameters(), *head.parameters()]
    optimiser = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    x_val, y_val, _ = cue_batch(
        steps, eval_sequences, torch.Generator().manual_seed(seed + VALIDATION_SEED), cue_window
    )
    history: list[tuple[int, float]] = []

    def evaluate(update: int) -> float:
        with torch.no_grad():
            accuracy = float(((last_step_logits(encoder, head, x_val) > 0) == y_val).float().mean())
        history.append((update, accuracy))
        return accuracy

    for update in range(1, updates + 1):
        x, y, _ = cue_batch(steps, batch, generator, cue_window)
        logits = last_step_logits(encoder, head, x)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y.float())
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        if eval_every and update % eval_every == 0 and update < updates:
            if evaluate(update) >= (stop_at if stop_at is not None else float("inf")):
                return CueRun(encoder, head, history)
    evaluate(updates)
    return CueRun(encoder, head, history)
