"""ClippedAdam equals ``clip_grad_norm_`` followed by a plain (unfused) Adam step, on its direct
fused-kernel path and on its public fallback."""

import copy

import pytest
import torch
from torch import nn

from stateful_rl.adapters import FORCE_FALLBACK_VARIABLE, forget_fast_paths
from stateful_rl.agents import optim
from stateful_rl.agents.optim import DIRECT_FUSED_ADAM, ClippedAdam


@pytest.mark.parametrize("grad_scale", [1e-3, 1e3])  # clipping inactive / active
def test_clipped_adam_equals_clip_grad_norm_then_adam(grad_scale):
    torch.manual_seed(0)
    ours = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))
    ref = copy.deepcopy(ours)
    opt = ClippedAdam(ours.parameters(), lr=1e-2, max_norm=1.0)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2, foreach=False)
    for _ in range(5):
        x = torch.randn(16, 4)
        for net in (ours, ref):
            net.zero_grad(set_to_none=True)
            (grad_scale * net(x).square().mean()).backward()
        opt.clip_and_step()
        norm = nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        ref_opt.step()
        for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert (norm > 1.0) == (grad_scale > 1)
    state = opt.state[next(ours.parameters())]
    assert state["step"].item() == 5
    # a deep copy counts on from its own step tensors; the original's counts stay
    net2, opt2 = copy.deepcopy((ours, opt))
    for p in net2.parameters():
        p.grad = torch.ones_like(p)
    opt2.clip_and_step()
    assert [s["step"].item() for s in opt2.state.values()] == [6] * 4
    assert [s["step"].item() for s in opt.state.values()] == [5] * 4
    # Adam's state_dict round trip keeps training identical
    clone = ClippedAdam(copy.deepcopy(ours).parameters(), lr=1e-2, max_norm=1.0)
    clone.load_state_dict(opt.state_dict())
    torch.testing.assert_close(
        clone.state_dict()["state"][0]["exp_avg_sq"], opt.state_dict()["state"][0]["exp_avg_sq"]
    )
    # loading a state into an optimiser that has stepped: it counts on from the loaded steps
    opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    for net in (ours, ref):
        net.zero_grad(set_to_none=True)
        (grad_scale * net(x).square().mean()).backward()
    opt.clip_and_step()
    nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
    ref_opt.step()
    assert [s["step"].item() for s in opt.state.values()] == [6] * 4
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_clipped_adam_rejects_bad_max_norm():
    with pytest.raises(ValueError, match="max_norm"):
        ClippedAdam([nn.Parameter(torch.zeros(1))], lr=1e-3, max_norm=0.0)


@pytest.fixture
def decide_anew():
    """Fast-path decisions made inside a test do not outlive it."""
    forget_fast_paths()
    yield
    forget_fast_paths()


def train(
    dtype: torch.dtype, grad_scale: float, steps: int = 6
) -> tuple[list[torch.Tensor], ClippedAdam]:
    """``steps`` clip-and-steps of a small net from seed 0; its parameters and optimiser."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3)).to(dtype)
    opt = ClippedAdam(net.parameters(), lr=1e-2, max_norm=1.0)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        net.zero_grad(set_to_none=True)
        x = torch.randn(8, 4, generator=g, dtype=dtype)
        (grad_scale * net(x).square().mean()).backward()
        opt.clip_and_step()
    return [p.detach().clone() for p in net.parameters()], opt


class TorchAsOptimSeesIt:
    """``torch`` for :mod:`stateful_rl.agents.optim` only: without the names in ``missing``
    and counting its calls of the fused kernel (``torch.optim.Adam`` keeps the real one)."""

    def __init__(self, missing: tuple[str, ...] = ()) -> None:
        self.missing, self.kernel_calls = missing, 0

    def __getattr__(self, name: str):
        if name in self.missing:
            raise AttributeError(f"module 'torch' has no attribute '{name}'")
        if name == "_fused_adam_":
            self.kernel_calls += 1
        return getattr(torch, name)


@pytest.mark.usefixtures("decide_anew")
@pytest.mark.parametrize("grad_scale", [1e-3, 1e3])  # clipping inactive / active
@pytest.mark.parametrize(
    ("dtype", "tolerance"),
    [
        (torch.float64, {"rtol": 1e-12, "atol": 1e-14}),
        (torch.float32, {"rtol": 1e-5, "atol": 1e-6}),
    ],
)
def test_fallback_equals_direct_kernel(monkeypatch, grad_scale, dtype, tolerance):
    """Parameters after six steps: the direct fused kernel (scaling inside it) and the
    public ``clip_grad_norm_`` + ``Adam.step`` agree; each runs when it should."""
    seen = TorchAsOptimSeesIt()
    monkeypatch.setattr(optim, "torch", seen)
    results = []
    for forced in (False, True):
        monkeypatch.setenv(FORCE_FALLBACK_VARIABLE, "1" if forced else "0")
        forget_fast_paths()
        assert DIRECT_FUSED_ADAM() is not forced  # decided (and probed) before counting
        seen.kernel_calls = 0
        params, opt = train(dtype, grad_scale)
        assert seen.kernel_calls == (0 if forced else 5)  # the first step creates the state
        assert [s["step"].item() for s in opt.state.values()] == [6] * 4
        results.append(params)
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, **tolerance)


@pytest.mark.usefixtures("decide_anew")
@pytest.mark.parametrize("missing", ["_fused_adam_", "_foreach_norm"])
def test_missing_private_api_costs_speed_not_results(monkeypatch, missing):
    monkeypatch.delenv(FORCE_FALLBACK_VARIABLE, raising=False)
    fast, _ = train(torch.float64, 1e3)
    monkeypatch.setattr(optim, "torch", TorchAsOptimSeesIt(missing=(missing,)))
    forget_fast_paths()
    with pytest.warns(
        RuntimeWarning, match=rf"torch\._fused_adam_ raised AttributeError.*{missing}"
    ):
        fallback, _ = train(torch.float64, 1e3)
    for a, b in zip(fast, fallback, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
