"""Smoke tests of the encoder scripts: they run and write what they promise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import run_module

from stateful_rl.claims.tracking import VisibilityGatedHead


def bench_encoders(*args: str) -> str:
    """stdout of ``python -m stateful_rl.bench.encoders ARGS`` (which must succeed)."""
    done = run_module("stateful_rl.bench.encoders", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_lstm_resets_runs(tmp_path: Path) -> None:
    results = tmp_path / "bench.jsonl"
    markdown = tmp_path / "results.md"
    out = bench_encoders("lstm", "--repeats", "1", "--results", str(results),
                         "--results-md", str(markdown))  # fmt: skip
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert {r["kind"] for r in rows} == {"lstm", "gru"} and len(rows) == 6
    assert all(r["ratio_split"] > 0 and r["ratio_loop"] > 0 for r in rows)
    assert all(r["ratio_saturate"] > 0 for r in rows if r["kind"] == "lstm")
    assert "| lstm | 0.005 |" in out
    assert "| lstm | 0.005 |" in markdown.read_text()  # its section of the results page


def test_bench_tracking_rows(tmp_path: Path) -> None:
    """A tiny run of every tracking row kind, both dims: ratios to the Kalman filter, ≥ 30%
    of the test steps occluded (the issue's setting)."""
    results = tmp_path / "bench.jsonl"
    models = ["Kalman filter", "per-frame", "Elman", "ESN N=1000 gated"]
    argv = ["tracking", "--updates", "3", "--train-sequences", "4", "--models", *models]
    out = bench_encoders(*argv, "--results", str(results), "--no-results-md")
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(r["dim"], r["model"]) for r in rows] == [(d, m) for d in (1, 2) for m in models]
    kalman = {r["dim"]: r for r in rows if r["model"] == "Kalman filter"}
    for r in rows:
        assert r["occluded_fraction"] >= 0.3
        assert r["ratio_occluded"] == pytest.approx(
            r["mse_occluded"] / kalman[r["dim"]]["mse_occluded"]
        )
        assert r["ratio_visible"] == pytest.approx(
            r["mse_visible"] / kalman[r["dim"]]["mse_visible"]
        )
    for k in kalman.values():  # the reference tracks: inputs and targets have unit variance
        assert k["mse_visible"] < k["mse_occluded"] < 0.1
    assert "| 2 | ESN N=1000 gated |" in out


def test_visibility_gated_head_switches_weights() -> None:
    """``[z, v z]``: the flag ``v`` (last entry of ``z``) adds a second weight matrix."""
    head = VisibilityGatedHead(3, 1)
    hidden, seen = torch.tensor([[0.5, -1.0, 0.0]]), torch.tensor([[0.5, -1.0, 1.0]])
    w, b = head.weight.detach(), head.bias.detach()
    torch.testing.assert_close(head(hidden), hidden @ w[:, :3].T + b)
    torch.testing.assert_close(head(seen), seen @ (w[:, :3] + w[:, 3:]).T + b)


def test_bench_mackey_glass_matches_reservoirpy(tmp_path: Path) -> None:
    pytest.importorskip("reservoirpy")
    results = tmp_path / "bench.jsonl"
    bench_encoders("mackey", "--seeds", "0", "--results", str(results), "--no-results-md")
    (row,) = [json.loads(line) for line in results.read_text().splitlines()]
    assert row["wout_max_rel_diff"] < 1e-4  # same reservoir: same readout
    assert row["rmse_ours_same_weights"] == pytest.approx(row["rmse_reservoirpy"], rel=1e-3)
    assert row["rmse_ours"] < 0.01


@pytest.mark.slow
def test_encoder_gradients_figure(tmp_path: Path) -> None:
    out = tmp_path / "gradients.png"
    done = run_module("stateful_rl.report.encoder_gradients", "--out", str(out))
    assert done.returncode == 0, done.stderr
    data = json.loads(out.with_suffix(".json").read_text())
    assert out.stat().st_size > 10_000
    vanishing, exploding = data["gradients"]["Elman |λ|=0.8"], data["gradients"]["Elman |λ|=1.3"]
    assert vanishing[-1] < 1e-3 * vanishing[0] and exploding[-1] > vanishing[-1] * 1e3
    clipped = data["training"]["Elman |λ|=1.5, clip=1.0"]
    assert max(clipped) < 1.0 and clipped[-1] < clipped[0]
