"""Claim 6: LRP conserves relevance and points at the cue.

An LSTM learns to report a cue shown at a random step; LSTM LRP (Arras et al. 2017) of its
answer must hand the score back without loss (``bias_factor=1``) and put the relevance on
the cue's step. A trained recurrent agent's explanation (made by
``python -m stateful_rl.report.explain_agent``) can be judged alongside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

import stateful_rl.encoders.lrp as lrp
from stateful_rl.claims.base import Break, Patcher, Verdict
from stateful_rl.claims.cue_task import CueModel, CueRun, cue_batch, train_cue_classifier
from stateful_rl.encoders.lrp import lstm_lrp

NUMBER = 6
TITLE = "LRP conserves relevance and points at the cue"
CLAIM = (
    "LSTM LRP (Arras et al. 2017) hands the explained score back to the inputs without loss "
    "(bias_factor 1) and puts the relevance of a recalled cue on the step where the cue was "
    "shown."
)
STEPS, WINDOW = 30, 20  # sequence length; the cue appears at a step uniform in [0, WINDOW)


@dataclass(frozen=True)
class Budget:
    """Training updates of the LSTM and sequences explained."""

    updates: int = 600
    explained: int = 256

    @classmethod
    def quick(cls) -> Budget:
        return cls(updates=250, explained=128)


def train(budget: Budget) -> CueRun:
    """The LSTM (hidden 16, chrono init) trained on the task (seed 0)."""
    model = CueModel("lstm", chrono=True)
    return train_cue_classifier(model, STEPS, budget.updates, cue_window=WINDOW, hidden=16)


def explain(trained: CueRun, sequences: int) -> dict[str, Any]:
    """LRP of the trained LSTM's answer on ``sequences`` fresh sequences (float64):
    conservation (``bias_factor`` 1, ε 1e-12) and where the relevance lands (ε 1e-3,
    ``bias_factor`` 0, the recommended setting)."""
    x, _, when = cue_batch(STEPS, sequences, torch.Generator().manual_seed(7), WINDOW)
    lstm64, x64 = trained.encoder.rnn.double(), x.double()
    readout = nn.Sequential(trained.head.double())
    relevance = lstm_lrp(lstm64, x64, readout, 0, eps=1e-3)
    conserve = lstm_lrp(lstm64, x64, readout, 0, eps=1e-12, bias_factor=1.0)
    total = conserve.input.sum((0, 2)) + conserve.h0.sum((0, 2)) + conserve.c0.sum((0, 2))
    conservation = float((total - conserve.score).abs().max() / conserve.score.abs().mean())
    per_step = relevance.input.abs().sum(-1)  # [T, B]
    on_cue = per_step[when, torch.arange(len(when))] / per_step.sum(0)
    return {
        "accuracy": trained.accuracy,
        "conservation_max_rel_error": conservation,
        "fraction_on_cue_step_mean": float(on_cue.mean()),
        "argmax_is_cue_step": float((per_step.argmax(0) == when).float().mean()),
        "relevance": relevance.input.numpy(),
        "x": x.numpy(),
        "when": when.numpy(),
    }


def run(budget: Budget) -> dict[str, Any]:
    """Train, then explain."""
    return explain(train(budget), budget.explained)


def verdict(
    evidence: dict[str, Any],
    agent: dict[str, Any] | None = None,
    conservation: float = 1e-6,
    hits: float = 0.9,
    agent_factor: float = 3.0,
) -> Verdict:
    """Conservation error < ``conservation``; the most relevant step is the cue step in ≥
    ``hits`` of the sequences; with ``agent`` (numbers of the explained agent), LRP's share
    on the last visible steps is ≥ ``agent_factor`` × an even spread's."""
    holds = (
        evidence["conservation_max_rel_error"] < conservation
        and evidence["argmax_is_cue_step"] >= hits
    )
    criterion = (
        f"conservation error < {conservation:g}; the most relevant step is the cue step in "
        f"≥ {hits:.0%} of sequences"
    )
    if agent is not None:
        holds = holds and agent["lrp"]["all_features"] >= agent_factor * agent["lrp"]["uniform_all"]
        criterion += (
            f"; for the agent, LRP puts ≥ {agent_factor:g} × an even spread's share on the last "
            f"{agent['last_visible_steps']} visible steps"
        )
    numbers = {k: v for k, v in evidence.items() if not isinstance(v, np.ndarray)}
    return Verdict(bool(holds), criterion, numbers)


def _bias_absorbs(patcher: Patcher) -> None:
    """A non-conserving rule: the epsilon rule's bias share is never handed back
    (``bias_factor`` ignored)."""
    original = lrp.lrp_linear
    patcher.setattr(lrp, "lrp_linear", lambda *a, **kw: original(*a, **{**kw, "bias_factor": 0.0}))


def _spread_evenly(patcher: Patcher) -> None:
    """A conserving but blind rule: every input of a linear map gets an equal share."""

    def even(
        a: torch.Tensor, weight: Any, bias: Any, z: torch.Tensor, relevance: torch.Tensor, **_: Any
    ) -> torch.Tensor:
        return relevance.sum(-1, keepdim=True).expand_as(a) / a.shape[-1]

    patcher.setattr(lrp, "lrp_linear", even)


BREAKS = (
    Break("LRP rule that keeps the bias share (not conserving)", _bias_absorbs),
    Break("LRP rule that spreads relevance evenly over inputs (conserving, blind)", _spread_evenly),
)
