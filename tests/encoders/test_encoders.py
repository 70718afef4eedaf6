"""Encoder interface: shapes, dtypes, exact resets, forward == step loop, clear errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from stateful_rl.encoders import (
    ENCODERS,
    EchoStateEncoder,
    ElmanEncoder,
    FrameStackEncoder,
    GRUEncoder,
    LSTMEncoder,
    StateEncoder,
    make_encoder,
)

T, B, F = 11, 4, 3
SMALL = {"esn": {"units": 60}, "lstm": {"hidden_size": 16}, "gru": {"hidden_size": 16}}


def build(name: str) -> StateEncoder:
    torch.manual_seed(0)
    return make_encoder(name, F, **SMALL.get(name, {}))


def data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, F, generator=g)
    starts = torch.rand(T, B, generator=g) < 0.25
    starts[3, 1] = True
    return x, starts


def random_state(encoder: StateEncoder) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    return tuple(torch.randn(s.shape, generator=g) for s in encoder.initial_state(B))


@pytest.mark.parametrize("name", list(ENCODERS))
def test_shapes_and_dtypes(name: str) -> None:
    encoder = build(name)
    x, starts = data()
    features, state = encoder(x, encoder.initial_state(B), starts)
    assert features.shape == (T, B, encoder.features_dim)
    assert features.dtype == torch.float32
    assert all(s.shape[0] == B and s.dtype == torch.float32 for s in state)
    assert [s.shape for s in state] == [s.shape for s in encoder.initial_state(B)]


@pytest.mark.parametrize("name", list(ENCODERS))
def test_forward_equals_step_loop(name: str) -> None:
    encoder = build(name)
    x, starts = data()
    state0 = random_state(encoder)
    features, state = encoder(x, state0, starts)
    step_state, steps = state0, []
    for t in range(T):
        out, step_state = encoder.step(x[t], step_state, starts[t])
        steps.append(out)
    torch.testing.assert_close(features, torch.stack(steps), atol=1e-5, rtol=1e-5)
    for a, b in zip(state, step_state, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_reset_equals_fresh_start(name: str) -> None:
    """After a start at step t, a sequence's outputs equal a fresh run from step t."""
    encoder = build(name)
    x, _ = data()
    starts = torch.zeros(T, B, dtype=torch.bool)
    starts[5, 2] = True
    features, _ = encoder(x, random_state(encoder), starts)
    fresh, _ = encoder(x[5:], encoder.initial_state(B), starts[5:])
    torch.testing.assert_close(features[5:, 2], fresh[:, 2], atol=1e-5, rtol=1e-5)
    # the other sequences kept their state: differ from a fresh start (stateful encoders)
    if encoder.initial_state(B):
        assert not torch.allclose(features[5:, 0], fresh[:, 0], atol=1e-4)


@pytest.mark.parametrize(
    ("name", "mode"),
    [("lstm", "saturate"), ("lstm", "split"), ("gru", "split")],
)
def test_reset_fast_paths_equal_step_loop_with_gradients(name: str, mode: str) -> None:
    """Outputs, final state and every gradient equal the one-call-per-step reference."""
    encoder = build(name).double()
    x, starts = data()

    def set_mode(fast: bool) -> None:
        encoder.reset_mode = mode if fast else "loop"

    assert_fast_path_equals_loop(encoder, set_mode, x, starts)


def assert_fast_path_equals_loop(
    encoder: StateEncoder, set_mode: Callable[[bool], None], x: torch.Tensor, starts: torch.Tensor
) -> None:
    """Float64 outputs, final state and the gradients of a random loss with respect to the
    input, the initial state and every parameter agree between ``set_mode(True/False)``."""
    x = x.double().requires_grad_(True)
    state0 = tuple(s.double().requires_grad_(True) for s in random_state(encoder))
    weights = torch.randn(T, B, encoder.features_dim, dtype=torch.float64)
    results = []
    for fast in (True, False):
        set_mode(fast)
        features, state = encoder(x, state0, starts)
        loss = (features * weights).sum() + sum(s.sum() for s in state)
        grads = torch.autograd.grad(loss, [x, *state0, *encoder.parameters()])
        results.append((features, state, grads))
    (fast, fast_state, fast_grads), (loop, loop_state, loop_grads) = results
    torch.testing.assert_close(fast, loop)
    for a, b in zip((*fast_state, *fast_grads), (*loop_state, *loop_grads), strict=True):
        torch.testing.assert_close(a, b)


def test_lstm_saturated_resets_two_layers() -> None:
    """Two layers, consecutive starts and a start at the last step: float64 equal to the
    loop with gradients; float32 (oneDNN's kernel on CPU) equal to float tolerance."""
    torch.manual_seed(0)
    encoder = LSTMEncoder(F, 8, num_layers=2)
    x, starts = data()
    starts[4:6, 0] = True
    starts[-1, 3] = True

    def set_mode(fast: bool) -> None:
        encoder.reset_mode = "saturate" if fast else "loop"

    results = []
    for fast in (True, False):
        set_mode(fast)
        x32 = x.clone().requires_grad_(True)
        features, state = encoder(x32, random_state(encoder), starts)
        loss = features.square().sum() + sum(s.sum() for s in state)
        results.append((features, *state, *torch.autograd.grad(loss, [x32, *encoder.parameters()])))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert_fast_path_equals_loop(encoder.double(), set_mode, x, starts)


def test_frame_stack_contents() -> None:
    encoder = FrameStackEncoder(1, k=3)
    x = torch.arange(1.0, 7.0).view(6, 1, 1)
    starts = torch.tensor([[True], [False], [False], [True], [False], [False]])
    features, state = encoder(x, encoder.initial_state(1), starts)
    expected = [[1, 0, 0], [2, 1, 0], [3, 2, 1], [4, 0, 0], [5, 4, 0], [6, 5, 4]]
    assert features[:, 0].tolist() == expected
    assert state[0][0, :, 0].tolist() == [6, 5]


def test_elman_pre_activation_form() -> None:
    """r_t = W_in x_t + W_rec σ(r_{t-1}) + b, computed by hand for two steps."""
    encoder = ElmanEncoder(F, 5)
    x, _ = data()
    starts = torch.zeros(T, B, dtype=torch.bool)
    r0 = torch.randn(B, 5)
    features, _ = encoder(x[:2], (r0,), starts[:2])
    w_in, w_rec, b = encoder.w_in, encoder.w_rec, encoder.bias
    r1 = x[0] @ w_in.T + torch.tanh(r0) @ w_rec.T + b
    r2 = x[1] @ w_in.T + torch.tanh(r1) @ w_rec.T + b
    torch.testing.assert_close(features[1], r2)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_elman_fused_path_equals_step_loop_with_gradients(activation: str) -> None:
    """No reset after t=0 (half the sequences start at t=0): one fused nn.RNN call."""
    torch.manual_seed(0)
    encoder = ElmanEncoder(F, 6, activation=activation).double()
    x, _ = data()
    starts = torch.zeros(T, B, dtype=torch.bool)
    starts[0, ::2] = True

    def set_mode(fast: bool) -> None:
        encoder.fused = fast

    assert_fast_path_equals_loop(encoder, set_mode, x, starts)


@pytest.mark.parametrize("init", ["eigen", "orthogonal"])
def test_elman_leading_eigenvalue(init: str) -> None:
    encoder = ElmanEncoder(F, 40, init=init, leading_eigenvalue=0.95)
    modulus = torch.linalg.eigvals(encoder.w_rec.detach().double()).abs()
    assert modulus.max().item() == pytest.approx(0.95, rel=1e-4)
    if init == "orthogonal":
        assert modulus.min().item() == pytest.approx(0.95, rel=1e-4)


def test_elman_from_dynamics_is_euler() -> None:
    """Linear σ: r_t = (I + Δt A) r_{t-1} + Δt B x_t, the forward-Euler step."""
    a = torch.tensor([[0.0, 1.0], [-4.0, -0.1]])
    b = torch.tensor([[0.0], [1.0]])
    encoder = ElmanEncoder.from_dynamics(a, 0.05, input_dim=1, b=b)
    torch.testing.assert_close(encoder.w_rec.detach(), torch.eye(2) + 0.05 * a)
    r = torch.tensor([[1.0, 0.0]])
    x = torch.ones(1, 1, 1)
    out, _ = encoder(x, (r,), torch.zeros(1, 1, dtype=torch.bool))
    expected = r + 0.05 * (r @ a.T + x[0] @ b.T)
    torch.testing.assert_close(out[0], expected)


def test_make_encoder_unknown_name_lists_allowed() -> None:
    with pytest.raises(ValueError, match="allowed names: lstm, gru, elman, esn"):
        make_encoder("transformer", 3)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_clear_errors_for_bad_input(name: str) -> None:
    encoder = build(name)
    x, starts = data()
    state = encoder.initial_state(B)
    with pytest.raises(ValueError, match=r"expects x of shape \[T, B, 3\]"):
        encoder(x[0], state, starts)
    with pytest.raises(ValueError, match=r"expects x of shape \[T, B, 3\]"):
        encoder(x[..., :2], state, starts)
    with pytest.raises(ValueError, match="needs episode_starts"):
        encoder(x, state, None)
    with pytest.raises(ValueError, match="episode_starts must have shape"):
        encoder(x, state, starts[:, :2])


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="reset_mode"):
        LSTMEncoder(3, reset_mode="pack")
    with pytest.raises(ValueError, match="reset_mode"):
        GRUEncoder(3, reset_mode="saturate")
    with pytest.raises(ValueError, match="reset_mode"):
        LSTMEncoder(3, reset_mode="masked")
    with pytest.raises(ValueError, match="leak_rate"):
        EchoStateEncoder(3, 50, leak_rate=0.0)
    with pytest.raises(ValueError, match="activation"):
        ElmanEncoder(3, activation="sigmoid")
    with pytest.raises(ValueError, match="k must be"):
        FrameStackEncoder(3, k=0)
