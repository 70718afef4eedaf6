"""ClippedAdam equals ``clip_grad_norm_`` followed by a plain (unfused) Adam step."""

import copy

import pytest
import torch
from torch import nn

from stateful_rl.agents.optim import ClippedAdam


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


def test_clipped_adam_rejects_bad_max_norm():
    with pytest.raises(ValueError, match="max_norm"):
        ClippedAdam([nn.Parameter(torch.zeros(1))], lr=1e-3, max_norm=0.0)
