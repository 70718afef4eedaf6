"""One fast check per seed claim (scripts/seed_claims.py), and the report's framework.

Claim 8's learning runs (recurrent vs memoryless DQN and NFQ) are too long for the default
suite: the report reads them from docs/saved_runs/, and the test checks that reading.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stateful_rl.encoders import ElmanEncoder
from stateful_rl.encoders.diagnostics import gradient_norms_through_time
from stateful_rl.report import seed_claims as sc

QUICK = sc.Budget.quick()


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_claim1_per_frame_fails_where_recurrent_tracks(tmp_path):
    result = sc.claim1_tracking(QUICK, tmp_path)
    ratios = result.numbers["ratio_to_kalman"]
    # 200 updates on 100-step sequences (the report: 1500 on 200 steps, criterion 5×)
    assert ratios["per-frame"] > 3 * ratios["LSTM"], ratios
    assert ratios["per-frame"] > 20  # memoryless: far from the Kalman filter
    assert (tmp_path / "claim1_tracking.png").stat().st_size > 10_000


def test_claim2_from_dynamics_is_exactly_euler():
    for dt in (0.1, 1.0):
        run = sc.euler_trajectories(dt, round(20 / dt))
        np.testing.assert_allclose(run["rnn"], run["euler"], rtol=1e-12, atol=1e-12)
    small, large = sc.euler_trajectories(0.1, 200), sc.euler_trajectories(1.0, 20)
    assert small["radius"] < 1 < large["radius"]
    # Euler at Δt = 1 grows although the continuous system decays
    assert np.abs(large["euler"][-1]).max() > 10 > 0.5 > np.abs(large["exact"][-1]).max()


def test_claim3_gradient_norm_growth_follows_leading_eigenvalue():
    x = torch.randn(40, 1, generator=torch.Generator().manual_seed(0)) * 0.1
    finals = {}
    moduli = (0.5, 0.8, 0.95, 1.05, 1.3)
    for modulus in moduli:
        torch.manual_seed(0)
        encoder = ElmanEncoder(1, 32, leading_eigenvalue=modulus)
        finals[modulus] = float(gradient_norms_through_time(encoder, x)[0])  # lag 40
    assert all(finals[a] < finals[b] for a, b in itertools.pairwise(moduli)), finals
    assert finals[0.5] < 1e-8 and finals[1.3] > 10, finals  # vanished / exploded


def test_claim3_clipping_keeps_exploding_training_finite():
    from stateful_rl.report.encoder_gradients import train_recall

    runs = {}
    for clip in (None, 1.0):
        torch.manual_seed(0)
        runs[clip] = np.asarray(train_recall(ElmanEncoder(1, 32, leading_eigenvalue=1.5), clip, 60))
    assert np.isfinite(runs[1.0]).all() and runs[1.0].max() < 1.0
    assert not np.isfinite(runs[None]).all() or runs[None].max() > 1e3


def test_claim4_echo_state_property_and_convex_readout():
    for rho in (0.5, 0.9):
        assert sc.esn_distances(rho, 100)[-1] < 1e-6
    assert sc.esn_distances(1.5, 100)[-1] > 0.1  # this input does not wash out ρ = 1.5
    fit = sc.ridge_from_starts(60, starts=3)
    assert max(fit["relative_distance"]) < 1e-5, fit["relative_distance"]
    np.testing.assert_allclose(fit["loss"], fit["closed_form_loss"], rtol=1e-9)


def test_claim5_lstm_recalls_where_elman_forgets():
    lstm = sc.train_cue_classifier("lstm", 41, QUICK.recall_updates)[2]
    elman = sc.train_cue_classifier("elman", 41, QUICK.recall_updates)[2]
    assert lstm >= 0.9 and elman <= 0.6, (lstm, elman)


def test_claim6_lrp_conserves_and_points_at_the_cue():
    cue = sc.cue_relevance(QUICK)
    assert cue["accuracy"] >= 0.9
    assert cue["conservation_max_rel_error"] < 1e-6
    assert cue["argmax_is_cue_step"] >= 0.9
    assert cue["fraction_on_cue_step_mean"] > 5 / 30  # far above an even spread (1/30)


def test_claim7_cpg_walks_then_swims(tmp_path):
    result = sc.claim7_cpg(QUICK, tmp_path)
    walk, swim = result.numbers["walking"], result.numbers["swimming"]
    assert result.holds
    assert walk["limb_output_max"] > 0.1 and swim["limb_output_max"] < 1e-3
    np.testing.assert_allclose(walk["body_hz"], walk["limb_hz"], rtol=0.05)  # body entrained
    np.testing.assert_allclose(swim["body_hz"], 0.2 * 4.0 + 0.3, rtol=0.05)  # ν_body(4)
    assert 2.9 < result.numbers["switch_drive"] < 3.5


def test_report_keeps_other_claims_and_writes_figures(tmp_path):
    sc.run_claims([2], QUICK, tmp_path, quick=True)
    stored = json.loads((tmp_path / "seed_claims.json").read_text())
    stored["9"] = {**stored["2"], "number": 9, "title": "kept from before"}
    (tmp_path / "seed_claims.json").write_text(json.dumps(stored))
    sc.run_claims([2], QUICK, tmp_path, quick=True)
    report = (tmp_path / "seed_claims.md").read_text()
    assert "## 2. An RNN is a discretised dynamical system" in report
    assert "## 9. kept from before" in report
    assert "`python -m stateful_rl.report.seed_claims --claims 2`" in report
    assert (tmp_path / "figures" / "claim2_dynamics.png").exists()


def test_claim8_needs_the_saved_run(tmp_path, monkeypatch):
    from stateful_rl.report import explain_agent

    monkeypatch.setattr(explain_agent, "RUN_DIR", tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="explain_agent train"):
        sc.claim8_agents(QUICK, tmp_path)


def test_claim8_reads_both_saved_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[2])  # the saved runs' paths are repo-relative
    result = sc.claim8_agents(QUICK, tmp_path)
    kept = result.numbers["nfq_kept"]
    assert sum(v >= 400 for v in kept["esn-nfq"]) >= 3 and max(kept["nfq"]) < 200, kept
    assert "CartPoleNoVel-v0 | feed-forward NFQ | 30000 | 3 |" in result.table
    monkeypatch.setattr(sc, "NFQ_RUN", tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match=r"stateful_rl\.bench\.nfq novel"):
        sc.claim8_agents(QUICK, tmp_path)
