"""Echo state reservoir and ridge readout: spectral radius, echo state property, ridge fit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from stateful_rl.encoders import EchoStateEncoder, echo_state_property, spectral_radius
from stateful_rl.encoders.ridge import RidgeReadout, encode_in_chunks, gated_features


@pytest.mark.parametrize(("units", "rho", "sparse"), [(400, 0.9, True), (300, 1.25, False)])
def test_spectral_radius_within_one_percent(units: int, rho: float, sparse: bool) -> None:
    encoder = EchoStateEncoder(2, units, spectral_radius=rho, sparse=sparse, seed=3)
    dense = encoder.w.to_dense() if sparse else encoder.w
    exact = np.abs(np.linalg.eigvals(dense.double().numpy())).max()
    assert exact == pytest.approx(rho, rel=0.01)
    assert spectral_radius(dense.double()) == pytest.approx(exact, rel=0.01)


def test_reservoir_is_frozen_and_seeded() -> None:
    a = EchoStateEncoder(2, 100, seed=7)
    b = EchoStateEncoder(2, 100, seed=7)
    assert not a.trainable
    assert not any(p.requires_grad for p in a.parameters())
    torch.testing.assert_close(a.w.to_dense(), b.w.to_dense())
    assert a.w._nnz() == pytest.approx(0.1 * 100 * 100, rel=0.1)
    x = torch.randn(5, 1, 2, requires_grad=True)
    h, _ = a(x, a.initial_state(1), torch.zeros(5, 1, dtype=torch.bool))
    assert not h.requires_grad


def test_leaky_update_equation() -> None:
    """h_t = (1 - α) h_{t-1} + α tanh(W_in x_t + W h_{t-1} + b)."""
    encoder = EchoStateEncoder(2, 30, leak_rate=0.3, bias_scaling=0.5, input_connectivity=0.5)
    h0, x = torch.rand(1, 30), torch.randn(1, 1, 2)
    h, _ = encoder(x, (h0,), torch.zeros(1, 1, dtype=torch.bool))
    w = encoder.w.to_dense()
    expected = 0.7 * h0 + 0.3 * torch.tanh(x[0] @ encoder.w_in.T + h0 @ w.T + encoder.bias)
    torch.testing.assert_close(h[0], expected)


def test_echo_state_property() -> None:
    assert echo_state_property(EchoStateEncoder(1, 200, spectral_radius=0.9, leak_rate=1.0))
    chaotic = EchoStateEncoder(1, 200, spectral_radius=3.0, leak_rate=1.0, input_scaling=0.1)
    assert not echo_state_property(chaotic, steps=3000)
    with pytest.raises(ValueError, match=r"x must have shape \[T, 1\]"):
        echo_state_property(chaotic, torch.zeros(10, 3))


def test_ridge_equals_tikhonov_lstsq() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 6)), rng.normal(size=(200, 2))
    beta = 0.5
    readout = RidgeReadout(6, 2, ridge=beta, fit_bias=False).fit(
        torch.from_numpy(x).float(), torch.from_numpy(y).float(), chunk_size=37
    )
    augmented = np.vstack([x.astype(np.float32), np.sqrt(beta) * np.eye(6)])
    targets = np.vstack([y.astype(np.float32), np.zeros((6, 2))])
    expected = np.linalg.lstsq(augmented, targets, rcond=None)[0]
    np.testing.assert_allclose(readout.weight.numpy().T, expected, rtol=1e-9, atol=1e-12)
    # with a bias: lstsq on centred data, bias = mean(y) - mean(x) W (bias not regularised)
    with_bias = RidgeReadout(6, 2, ridge=beta).fit(torch.from_numpy(x), torch.from_numpy(y))
    xc, yc = x - x.mean(0), y - y.mean(0)
    w = np.linalg.lstsq(
        np.vstack([xc, np.sqrt(beta) * np.eye(6)]), np.vstack([yc, np.zeros((6, 2))])
    )[0]
    np.testing.assert_allclose(with_bias.weight.numpy().T, w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(with_bias.bias.numpy(), y.mean(0) - x.mean(0) @ w, atol=1e-12)


def test_fit_encoder_in_chunks_with_washout_equals_one_shot() -> None:
    encoder = EchoStateEncoder(1, 80, spectral_radius=0.9)
    x = torch.randn(300, 2, 1)
    y = torch.roll(x, 1, dims=0)
    chunked = RidgeReadout(80, 1, ridge=1e-6).fit_encoder(encoder, x, y, washout=50, chunk_size=64)
    states = torch.cat([h for _, h in encode_in_chunks(encoder, x, chunk_size=300)])
    one_shot = RidgeReadout(80, 1, ridge=1e-6).fit(states, y, washout=50)
    torch.testing.assert_close(chunked.weight, one_shot.weight, rtol=1e-6, atol=1e-8)
    assert chunked(states).shape == (300, 2, 1)


def test_gated_features_and_errors() -> None:
    h, gate = torch.ones(4, 3), torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    assert gated_features(h, gate)[:, 3:].sum().item() == 6.0
    with pytest.raises(ValueError, match="before any partial_fit"):
        RidgeReadout(3, 1).solve()
    with pytest.raises(ValueError, match=r"expected x\[..., 3\]"):
        RidgeReadout(3, 1).partial_fit(torch.ones(4, 2), torch.ones(4, 1))


def test_reservoir_deepcopy_and_state_dict() -> None:
    encoder = EchoStateEncoder(2, 50)
    clone = copy.deepcopy(encoder)
    torch.testing.assert_close(clone.w.to_dense(), encoder.w.to_dense())
    other = EchoStateEncoder(2, 50, seed=1)
    other.load_state_dict(encoder.state_dict())
    torch.testing.assert_close(other.w.to_dense(), encoder.w.to_dense())


def test_single_sequence_path_equals_batched_path() -> None:
    """One sequence runs on scipy, a batch on torch: same states, resets included."""
    encoder = EchoStateEncoder(2, 120, spectral_radius=1.1, bias_scaling=0.3)
    x = torch.randn(40, 1, 2)
    starts = torch.zeros(40, 1, dtype=torch.bool)
    starts[[0, 17]] = True
    h0 = torch.rand(1, 120)
    single, (single_state,) = encoder(x, (h0,), starts)
    batched, (batched_state,) = encoder(x.repeat(1, 2, 1), (h0.repeat(2, 1),), starts.repeat(1, 2))
    torch.testing.assert_close(single[:, 0], batched[:, 1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(single_state[0], batched_state[1], atol=1e-5, rtol=1e-5)
