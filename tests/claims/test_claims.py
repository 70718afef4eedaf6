"""Every claim of ``stateful_rl.claims`` holds at its quick budget, and each of its deliberate
breaks (applied with monkeypatch) makes the same check fail. Claim 8 needs agent training:
``test_agents_claim.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_module

from stateful_rl.claims import CLAIMS, gradients, hmm_rnn, recall_race, tracking
from stateful_rl.encoders import ElmanEncoder

REPO = Path(__file__).resolve().parents[2]

QUICK = [n for n in CLAIMS if n != 8]
BREAKS = [(n, i) for n in QUICK for i in range(len(CLAIMS[n].BREAKS))]


def quick_verdict(number: int):
    module = CLAIMS[number]
    return module.verdict(module.run(module.Budget.quick()))


@pytest.mark.parametrize("number", QUICK, ids=lambda n: f"claim{n}")
def test_claim_holds_at_quick_budget(number: int) -> None:
    verdict = quick_verdict(number)
    assert verdict.holds, verdict


@pytest.mark.parametrize(("number", "index"), BREAKS, ids=lambda v: str(v))
def test_break_makes_the_check_fail(number: int, index: int, monkeypatch) -> None:
    fault = CLAIMS[number].BREAKS[index]
    fault.apply(monkeypatch)
    verdict = quick_verdict(number)
    assert not verdict.holds, (fault.name, verdict)


def test_claim2_uses_from_dynamics_as_built(monkeypatch) -> None:
    """The trajectory comes from ``ElmanEncoder.from_dynamics`` itself: a step size it
    mishandles shows."""
    original = ElmanEncoder.from_dynamics
    monkeypatch.setattr(
        ElmanEncoder,
        "from_dynamics",
        staticmethod(lambda a, dt, input_dim, **kw: original(a, 0.5 * dt, input_dim, **kw)),
    )
    assert not CLAIMS[2].verdict(CLAIMS[2].run(CLAIMS[2].Budget())).holds


def test_claim3_linear_factor_is_the_eigenvalue_on_both_sides() -> None:
    budget = gradients.Budget(hidden=16, lags=80)
    for modulus in (0.6, 1.4):
        norms = gradients.lag_norms(modulus, 0.1, "linear", budget)
        assert gradients.growth_factor(norms, 20) == pytest.approx(modulus, rel=0.01)
    assert gradients.growth_factor(np.array([1.0, 0.5, 0.0, 0.0]), 1) == 0.0


def test_claim3_diverged_reads_nan_and_growth() -> None:
    assert gradients.diverged(np.array([1.0, 2.0, float("nan")]))
    assert gradients.diverged(np.full(30, 2.0) * np.r_[0.5, np.ones(29)])
    assert not gradients.diverged(np.linspace(1.0, 0.1, 30))


def race(updates: dict[str, dict[int, list[int | None]]], cap: int = 100) -> dict:
    """Synthetic race evidence with one learning rate per model."""
    lags = sorted({lag for per_lag in updates.values() for lag in per_lag})
    return {
        "updates": {
            m: {lag: {1e-3: seeds} for lag, seeds in per_lag.items()}
            for m, per_lag in updates.items()
        },
        "cap": cap,
        "threshold": 0.95,
        "lags": lags,
    }


def test_claim5_verdict_logic() -> None:
    elman, lstm = "Elman (eigen, |λ| 0.95)", "LSTM (chrono)"
    slower = race({elman: {10: [5, 5], 50: [80, None]}, lstm: {10: [5, 5], 50: [20, 30]}})
    verdict = recall_race.verdict(slower)
    assert verdict.holds
    assert verdict.numbers["ratios"][50] == {
        "elman_over_lstm": 90 / 25,
        "elman_missed": 1,
        "lstm_missed": 0,
    }
    # the best Elman variant is chosen by its median: a faster orthogonal init wins
    other = race(
        {elman: {50: [80, 90]}, "Elman (orthogonal)": {50: [10, 12]}, lstm: {50: [20, 30]}}
    )
    assert not recall_race.verdict(other).holds
    assert recall_race.best_variant(other, recall_race.FAMILIES["Elman"], 50)[0] == (
        "Elman (orthogonal)"
    )
    missing = race({elman: {50: [None, None]}, lstm: {50: [20, None]}})
    assert not recall_race.verdict(missing).holds  # the LSTM must reach it on every seed
    assert recall_race.median_cost([None, None, 3], 100) == 200


def test_claim1_verdict_takes_references() -> None:
    evidence = {
        "mse": {"per-frame": (1.0, 0.1), "LSTM": (0.1, 0.1)},
        "kalman": (0.05, 0.01),
        "closeness": 5.0,
    }
    assert tracking.verdict(evidence).holds  # 10× gap, 2× the Kalman filter
    assert not tracking.verdict(evidence, bayes_mse=0.01).holds  # 10× a better filter
    assert not tracking.verdict(evidence, memoryless_mse=0.3).holds  # a better memoryless ref
    numbers = tracking.verdict(evidence, bayes_mse=0.02).numbers
    assert numbers["ratio_to_bayes"]["LSTM"] == pytest.approx(5.0)


def hmm_evidence(distance: float, r2: float, decoded_return: float) -> dict:
    """Synthetic claim-12 evidence: best memoryless −0.5, Bayes 1."""
    returns = {"best_memoryless": -0.5, "bayes": 1.0, "greedy_decoded_gru": decoded_return}
    return {
        "max_abs_difference": distance,
        "decoder_r2": {32: 0.5, 64: r2},
        "hidden_size": 64,
        "returns": returns,
    }


def test_claim12_verdict_logic() -> None:
    verdict = hmm_rnn.verdict(hmm_evidence(0.0, 0.95, 0.9))
    assert verdict.holds  # the width-32 GRU's R² is reported, not judged
    assert verdict.numbers["decoded_policy_memory_score"] == pytest.approx(1.4 / 1.5)
    assert not hmm_rnn.verdict(hmm_evidence(1e-9, 0.95, 1.0)).holds  # not exact
    assert not hmm_rnn.verdict(hmm_evidence(0.0, 0.85, 1.0)).holds  # not decodable
    assert not hmm_rnn.verdict(hmm_evidence(0.0, 0.95, 0.8)).holds  # score 0.87 < 0.9


def test_claim12_rnn_is_the_filter_under_any_actions() -> None:
    """The constructed RNN against the exact filter on episodes of other seeds (both float64:
    on catch the beliefs are ratios of small integers, so they agree to the last bit)."""
    model = hmm_rnn.CatchModel(hmm_rnn.TASK)
    obs, states = hmm_rnn.catch_episodes(64, seed=123)
    beliefs = hmm_rnn.rnn_beliefs(model, obs)
    np.testing.assert_allclose(beliefs, hmm_rnn.exact_beliefs(model, obs), rtol=0, atol=1e-12)
    # the true state always keeps belief mass, and from row 1 on it holds all of it
    held = np.take_along_axis(beliefs, states[..., None], axis=-1)[..., 0]
    assert (held[0] > 0).all() and (held[1:] == 1.0).all()


@pytest.mark.slow
def test_claim12_holds_at_full_budget() -> None:
    """The report's budget: three GRU widths of 1 500 updates, 1 000 held-out episodes."""
    verdict = hmm_rnn.verdict(hmm_rnn.run(hmm_rnn.Budget()))
    assert verdict.holds, verdict


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_report_renders_stored_sections_with_current_texts(tmp_path) -> None:
    """``--render-only`` rewrites the report from the stored sections without running a
    claim, taking each claim's text from its module (a stale stored text is replaced)."""
    stored = json.loads((REPO / "docs" / "seed_claims.json").read_text())
    stored["5"]["claim"] = "stale wording"
    (tmp_path / "seed_claims.json").write_text(json.dumps(stored))
    done = run_module("stateful_rl.report.seed_claims", "--render-only", "--docs", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "seed_claims.md").read_text()
    assert recall_race.CLAIM in report and "stale wording" not in report
    assert f"## 5. {recall_race.TITLE}" in report and "figures/claim5_recall.png" in report
