"""Gradient norms through time and the W_rec spectrum; a short memory task."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stateful_rl.encoders import ElmanEncoder, FeedForwardEncoder, LSTMEncoder, make_encoder
from stateful_rl.encoders.diagnostics import gradient_norms_through_time, recurrent_eigenvalues


@pytest.mark.parametrize("modulus", [0.9, 1.1])
def test_linear_elman_gradient_norms_are_eigenvalue_powers(modulus: float) -> None:
    """Linear σ, orthogonal W_rec = λ Q: ‖∂r_T/∂r_k‖_F = λ^(T-k) √N exactly."""
    torch.manual_seed(0)
    encoder = ElmanEncoder(2, 8, activation="linear", init="orthogonal", leading_eigenvalue=modulus)
    norms = gradient_norms_through_time(encoder, torch.randn(12, 2))
    lags = torch.arange(12, 0, -1, dtype=torch.float64)
    torch.testing.assert_close(norms, modulus**lags * 8**0.5, rtol=1e-4, atol=0)


def test_gradient_norms_lstm_and_errors() -> None:
    norms = gradient_norms_through_time(LSTMEncoder(2, 8), torch.randn(10, 2))
    assert norms.shape == (10,) and bool((norms > 0).all())
    assert norms[-1] > norms[0]  # nearby states matter more at init
    with pytest.raises(ValueError, match="no state"):
        gradient_norms_through_time(FeedForwardEncoder(2), torch.randn(5, 2))
    with pytest.raises(ValueError, match="never trained"):
        gradient_norms_through_time(make_encoder("esn", 2, units=20), torch.randn(5, 2))
    with pytest.raises(ValueError, match="no single recurrent matrix"):
        recurrent_eigenvalues(LSTMEncoder(2, 4))


def test_recurrent_eigenvalues() -> None:
    eig = recurrent_eigenvalues(ElmanEncoder(2, 30, leading_eigenvalue=0.8))
    assert eig.abs().max().item() == pytest.approx(0.8, rel=1e-6)
    esn = make_encoder("esn", 2, units=300, spectral_radius=1.2)
    assert recurrent_eigenvalues(esn).abs().max().item() == pytest.approx(1.2, rel=0.01)


def recall_error(encoder_name: str, lag: int = 20, steps: int = 300) -> float:
    """Train encoder + linear head to output, at step ``lag``, the value shown at step 0;
    returns the last batch's mean squared error."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    size = {"hidden_size": 32} if encoder_name == "lstm" else {"hidden_sizes": (32,)}
    encoder = make_encoder(encoder_name, 1, **size)
    head = nn.Linear(encoder.features_dim, 1)
    optimiser = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=3e-3)
    starts = torch.zeros(lag + 1, 64, dtype=torch.bool)
    starts[0] = True
    for _ in range(steps):
        value = torch.rand(64, 1, generator=generator) * 2 - 1
        x = torch.zeros(lag + 1, 64, 1)
        x[0] = value
        features, _ = encoder(x, encoder.initial_state(64), starts)
        loss = (head(features[-1]) - value).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return loss.item()


def test_lstm_recalls_after_20_steps_memoryless_cannot() -> None:
    """The target's variance is 1/3: a memoryless encoder cannot do better than that."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: extra threads only contend (300 s vs 4 s here)
    try:
        assert recall_error("lstm") < 0.01
        assert recall_error("feedforward") > 0.25
    finally:
        torch.set_num_threads(threads)
