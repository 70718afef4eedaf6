"""``reset_parameters`` draws every encoder's weights again exactly as its constructor does."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stateful_rl.encoders import (
    ENCODERS,
    EchoStateEncoder,
    ElmanEncoder,
    LSTMEncoder,
    StateEncoder,
    make_encoder,
)
from stateful_rl.encoders.elman import leading_eigenvalue_modulus

F = 3
ARGUMENTS = {
    "esn": {"units": 40},
    "lstm": {"hidden_size": 6, "num_layers": 2},
    "gru": {"hidden_size": 6, "num_layers": 2},
    "elman": {"hidden_size": 7},
    "feedforward": {"hidden_sizes": (5, 4)},
    "framestack": {"k": 2, "hidden_sizes": (5,)},
}


def build(name: str, seed: int = 0, **kwargs: object) -> StateEncoder:
    torch.manual_seed(seed)
    return make_encoder(name, F, **{**ARGUMENTS[name], **kwargs})


def weights(encoder: StateEncoder) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in encoder.state_dict().items()}


def perturb(encoder: StateEncoder) -> None:
    with torch.no_grad():
        for tensor in encoder.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.randn_like(tensor)).mul_(3)


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_reset_with_the_same_seed_gives_the_constructors_weights(name: str) -> None:
    """Perturbed, then reset under the construction's seed: equal to a fresh encoder
    (for the echo state reservoir: when asked to redraw, from its own ``seed``)."""
    encoder = build(name, seed=5)
    fresh = weights(encoder)
    perturb(encoder)
    assert any(not torch.equal(fresh[k], v) for k, v in encoder.state_dict().items())
    torch.manual_seed(5)
    if isinstance(encoder, EchoStateEncoder):
        encoder.reset_parameters()  # a frozen reservoir stays as it is unless asked
        assert not torch.equal(encoder.w_in, fresh["w_in"])
        encoder.reset_parameters(redraw=True)
    else:
        encoder.reset_parameters()
    assert_same_weights(weights(encoder), fresh)
    other_seed = weights(build(name, seed=6))
    if encoder.trainable:  # a trained encoder's weights follow the torch seed
        assert any(not torch.equal(fresh[k], v) for k, v in other_seed.items())


@pytest.mark.parametrize("name", ["lstm", "gru", "elman", "feedforward", "framestack"])
def test_reset_with_a_generator_is_reproducible(name: str) -> None:
    encoder = build(name)
    drawn = []
    for seed in (1, 1, 2):
        encoder.reset_parameters(torch.Generator().manual_seed(seed))
        drawn.append(weights(encoder))
    assert_same_weights(drawn[0], drawn[1])
    assert any(not torch.equal(drawn[0][k], v) for k, v in drawn[2].items())


@pytest.mark.parametrize("num_layers", [1, 2])
def test_lstm_reset_restores_forget_gate_bias_and_torch_init(num_layers: int) -> None:
    """Forget-gate bias 1 (b_ih) + 0 (b_hh) in every layer; all else is ``nn.LSTM``'s own
    init under the same seed."""
    encoder = LSTMEncoder(F, 6, num_layers=num_layers)
    perturb(encoder)
    torch.manual_seed(3)
    encoder.reset_parameters()
    torch.manual_seed(3)
    reference = nn.LSTM(F, 6, num_layers)
    for name, value in reference.named_parameters():
        ours = getattr(encoder.rnn, name)
        if name.startswith("bias"):
            forget = ours[6:12]
            assert torch.equal(forget, torch.full_like(forget, 1.0 if "_ih_" in name else 0.0))
            ours, value = torch.cat([ours[:6], ours[12:]]), torch.cat([value[:6], value[12:]])
        torch.testing.assert_close(ours, value, rtol=0, atol=0)


def test_lstm_chrono_biases_span_the_lags_and_reset_alike() -> None:
    """``chrono_max_lag=T``: forget-gate bias log U(1, T − 1) in every layer, input-gate bias
    its negative, hidden-side biases of both 0; a reset under the same seed draws the same
    biases; bad lags are refused."""
    max_lag = 40
    torch.manual_seed(5)
    encoder = LSTMEncoder(F, 64, num_layers=2, chrono_max_lag=max_lag)
    built = weights(encoder)
    for layer in range(2):
        bias_ih = getattr(encoder.rnn, f"bias_ih_l{layer}")
        bias_hh = getattr(encoder.rnn, f"bias_hh_l{layer}")
        forget, input_gate = bias_ih[64:128], bias_ih[:64]
        assert forget.min() >= 0 and forget.max() <= math.log(max_lag - 1)
        assert forget.max() > math.log(max_lag / 2)  # spans long memories, not bias 1
        torch.testing.assert_close(input_gate, -forget, rtol=0, atol=0)
        assert torch.equal(bias_hh[:128], torch.zeros(128))
    perturb(encoder)
    torch.manual_seed(5)
    encoder.reset_parameters()
    assert_same_weights(built, weights(encoder))
    for bad in (1, 2.5, True):
        with pytest.raises(ValueError, match="chrono_max_lag"):
            LSTMEncoder(F, 4, chrono_max_lag=bad)


@pytest.mark.parametrize("init", ["eigen", "orthogonal"])
def test_elman_reset_restores_leading_eigenvalue(init: str) -> None:
    encoder = ElmanEncoder(F, 30, init=init, leading_eigenvalue=0.8)
    with torch.no_grad():
        encoder.w_rec.mul_(2.5)
        encoder.bias.fill_(1.0)
    encoder.reset_parameters()
    assert leading_eigenvalue_modulus(encoder.w_rec) == pytest.approx(0.8, rel=1e-4)
    assert torch.equal(encoder.bias, torch.zeros(30))
    assert encoder.w_in.abs().max() <= 1 / F**0.5
    if init == "orthogonal":
        singular = torch.linalg.svdvals(encoder.w_rec.detach().double())
        torch.testing.assert_close(singular, torch.full_like(singular, 0.8), rtol=1e-6, atol=0)


def test_elman_reset_with_the_constructors_generator() -> None:
    built = ElmanEncoder(F, 7, generator=torch.Generator().manual_seed(4))
    encoder = ElmanEncoder(F, 7)
    encoder.reset_parameters(torch.Generator().manual_seed(4))
    assert_same_weights(weights(encoder), weights(built))


def test_esn_redraw_refreshes_the_compiled_paths_cache() -> None:
    """A redrawn reservoir computes as a fresh one (the one-sequence path caches W)."""
    encoder, fresh = EchoStateEncoder(F, 40, seed=1), EchoStateEncoder(F, 40, seed=1)
    x, starts = torch.randn(8, 1, F), torch.zeros(8, 1, dtype=torch.bool)
    encoder(x, encoder.initial_state(1), starts)  # fills the cache
    perturb(encoder)
    encoder.reset_parameters(redraw=True)
    torch.testing.assert_close(
        encoder(x, encoder.initial_state(1), starts)[0], fresh(x, fresh.initial_state(1), starts)[0]
    )


def test_esn_from_given_weights_cannot_redraw() -> None:
    encoder = EchoStateEncoder(F, 20, seed=0)
    given = EchoStateEncoder.from_weights(
        encoder.w.to_dense().numpy(), encoder.w_in.numpy(), 0.0, leak_rate=0.3
    )
    given.reset_parameters()  # nothing to do
    with pytest.raises(ValueError, match="given weights"):
        given.reset_parameters(redraw=True)


class _Custom(StateEncoder):
    """An encoder that does not implement reset_parameters."""

    def __init__(self, with_weights: bool) -> None:
        super().__init__()
        self.input_dim = self.features_dim = 2
        self.scale = nn.Parameter(torch.ones(2)) if with_weights else None

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> tuple:
        return ()

    def forward(self, x: torch.Tensor, state: tuple, episode_starts: torch.Tensor) -> tuple:
        return x, state


def test_default_reset_refuses_weights_it_does_not_know() -> None:
    with pytest.raises(NotImplementedError, match="_Custom has weights"):
        _Custom(with_weights=True).reset_parameters()
    _Custom(with_weights=False).reset_parameters()
