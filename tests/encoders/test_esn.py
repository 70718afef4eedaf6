"""Echo state reservoir and ridge readout: spectral radius, echo state property, ridge fit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from stateful_rl.encoders import EchoStateEncoder, echo_state_property, spectral_radius
from stateful_rl.encoders.echo_state import _column_gaps, _run_reservoir, _tanh_float32
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
    assert a.w.values().numel() == pytest.approx(0.1 * 100 * 100, rel=0.1)
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
    x, y = rng.normal(size=(5000, 6)), rng.normal(size=(5000, 2))  # > one 2048-row block
    beta = 0.5
    readout = RidgeReadout(6, 2, ridge=beta, fit_bias=False).fit(
        torch.from_numpy(x).float(), torch.from_numpy(y).float(), chunk_size=3700
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


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_single_sequence_path_equals_batched_path(dtype: torch.dtype, tol: float) -> None:
    """One sequence runs the compiled loop (float32: rational tanh), a batch torch steps:
    same states, resets included."""
    encoder = EchoStateEncoder(2, 120, spectral_radius=1.1, bias_scaling=0.3, dtype=dtype)
    x = torch.randn(40, 1, 2)
    starts = torch.zeros(40, 1, dtype=torch.bool)
    starts[[0, 17, 18]] = True
    h0 = torch.rand(1, 120)
    single, (single_state,) = encoder(x, (h0,), starts)
    batched, (batched_state,) = encoder(x.repeat(1, 2, 1), (h0.repeat(2, 1),), starts.repeat(1, 2))
    assert single.dtype == dtype
    torch.testing.assert_close(single[:, 0], batched[:, 1], atol=tol, rtol=tol)
    torch.testing.assert_close(single_state[0], batched_state[1], atol=tol, rtol=tol)
    torch.testing.assert_close(single[18, 0], encoder(x[18:19], (h0,), starts[18:19])[0][0, 0])


def test_fast_tanh_float32_accuracy() -> None:
    z = np.linspace(-12, 12, 200_001).astype(np.float32)
    approx = np.array([_tanh_float32(v) for v in z[::50]], dtype=np.float32)
    np.testing.assert_allclose(approx, np.tanh(z[::50].astype(np.float64)), atol=4e-7, rtol=0)


def test_ridge_precise_on_ill_conditioned_reservoir_states() -> None:
    """States with mean ≫ spread and ridge 1e-6 (cond ≈ 1e10): within 1e-5 of an exact QR
    solution, where centring raw sums afterwards loses most digits."""
    encoder = EchoStateEncoder(1, 200, spectral_radius=1.25, seed=0, dtype=torch.float64)
    u = torch.sin(torch.arange(3001, dtype=torch.float64) * 0.3).view(-1, 1, 1) + 1.5
    states = torch.cat([h for _, h in encode_in_chunks(encoder, u[:-1], chunk_size=3000)])
    readout = RidgeReadout(200, 1, ridge=1e-6).fit(states, u[1:], washout=100, chunk_size=700)
    h, y = states[100:, 0].numpy(), u[101:, 0].numpy()
    h, y = h - h.mean(0), y - y.mean(0)
    exact = np.linalg.lstsq(np.vstack([h, 1e-3 * np.eye(200)]), np.vstack([y, np.zeros((200, 1))]))
    error = np.abs(readout.weight.numpy().T - exact[0]).max() / np.abs(exact[0]).max()
    assert error < 1e-5, error


def test_column_gaps_kernel_equals_absolute_columns() -> None:
    """Gap-coded columns (used when W outgrows L2), with zero fillers for gaps > 255."""
    rng = np.random.default_rng(0)
    for density in (0.1, 0.002):  # mean gap 10 (no fillers) and 500 (fillers)
        w = sp.random_array((2000, 2000), density=density, format="csr", rng=rng)
        indptr, gaps, values = _column_gaps(w.indptr, w.indices, w.data)
        assert len(gaps) >= w.nnz and (len(gaps) > w.nnz) == (density < 0.01)
        drive = rng.normal(size=(5, 2000))
        resets, h0 = np.zeros(5, dtype=bool), rng.normal(size=2000)
        absolute = (w.indptr.astype(np.uint32), w.indices.astype(np.uint16), w.data)
        expected = _run_reservoir(*absolute, drive, resets, h0, 0.3)
        got = _run_reservoir(indptr.astype(np.uint32), gaps, values, drive, resets, h0, 0.3)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    encoder = EchoStateEncoder(1, 2000, seed=0)  # 400k non-zeros: the gap-coded path
    assert encoder._kernel_csr()[1].dtype == np.uint8
    x, starts = torch.randn(6, 2, 1), torch.zeros(6, 2, dtype=torch.bool)
    batched, _ = encoder(x, encoder.initial_state(2), starts)
    single, _ = encoder(x[:, 1:], encoder.initial_state(1), starts[:, 1:])
    torch.testing.assert_close(single[:, 0], batched[:, 1], atol=1e-5, rtol=1e-5)
