"""LSTM LRP (encoders/lrp.py) against a plain numpy port of Arras et al.'s algorithm, its
conservation, its use on a trained LSTM, and the gradient baselines (encoders/attribution.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from stateful_rl.encoders.attribution import gradient_x_input, integrated_gradients
from stateful_rl.encoders.lrp import lrp_linear, lstm_lrp, lstm_lrp_from_output

# ---------------------------------------------------------------------------------------
# Reference: Arras et al. (2017) LRP_for_LSTM, one sequence, one direction, plain loops.
# Weights in Arras' gate order i, g, f, o; h[-1], c[-1] (the last row) hold the initial state.
# ---------------------------------------------------------------------------------------


def ref_lrp_linear(hin, w, b, hout, rout, n_inputs, eps, bias_factor):
    """Arras' lrp_linear: ``w`` is ``(D, M)``; the bias/stabiliser share goes to all D inputs."""
    sign = np.where(hout >= 0, 1.0, -1.0)
    numer = w * hin[:, None] + bias_factor * (b + eps * sign)[None, :] / n_inputs
    return ((numer / (hout + eps * sign)[None, :]) * rout[None, :]).sum(axis=1)


def arras_order(w):
    """torch's gate blocks i, f, g, o -> Arras' i, g, f, o."""
    i, f, g, o = np.split(w, 4)
    return np.concatenate([i, g, f, o])


class RefDirection:
    """One LSTM direction of one layer, as in LSTM_bidi.py (forward, then lrp)."""

    def __init__(self, lstm, layer, reverse):
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")
        param = {n: p.detach().cpu().numpy() for n, p in lstm.named_parameters()}
        self.w_xh = arras_order(param["weight_ih" + suffix])
        self.w_hh = arras_order(param["weight_hh" + suffix])
        self.b_xh = arras_order(param["bias_ih" + suffix])
        self.b_hh = arras_order(param["bias_hh" + suffix])

    def forward(self, x, h0, c0):
        n_steps, d = len(x), self.w_hh.shape[1]
        self.x = x
        self.h, self.c = np.zeros((n_steps + 1, d)), np.zeros((n_steps + 1, d))
        self.h[-1], self.c[-1] = h0, c0
        self.gates_pre, self.gates = np.zeros((n_steps, 4 * d)), np.zeros((n_steps, 4 * d))
        for t in range(n_steps):
            pre = self.w_xh @ x[t] + self.w_hh @ self.h[t - 1] + self.b_xh + self.b_hh
            self.gates_pre[t] = pre
            for k in range(4 * d):
                is_g = d <= k < 2 * d
                self.gates[t, k] = np.tanh(pre[k]) if is_g else 1.0 / (1.0 + np.exp(-pre[k]))
            i, g, f, o = np.split(self.gates[t], 4)
            self.c[t] = f * self.c[t - 1] + i * g
            self.h[t] = o * np.tanh(self.c[t])
        return self.h[:n_steps]

    def lrp(self, r_h_out, eps, bias_factor):
        """Relevance ``r_h_out[T, d]`` on the outputs -> (R_x[T, e], R_h0[d], R_c0[d])."""
        n_steps, d, e = len(self.x), self.w_hh.shape[1], self.x.shape[1]
        g_rows, eye, zero = slice(d, 2 * d), np.identity(d), np.zeros(d)
        b_g = self.b_xh[g_rows] + self.b_hh[g_rows]
        r_x, r_h, r_c = (
            np.zeros((n_steps, e)),
            np.zeros((n_steps + 1, d)),
            np.zeros((n_steps + 1, d)),
        )
        r_h[:n_steps] = r_h_out
        for t in reversed(range(n_steps)):
            i, g, f, _ = np.split(self.gates[t], 4)
            r_c[t] += r_h[t]
            r_c[t - 1] = ref_lrp_linear(
                f * self.c[t - 1], eye, zero, self.c[t], r_c[t], 2 * d, eps, bias_factor
            )
            r_g = ref_lrp_linear(i * g, eye, zero, self.c[t], r_c[t], 2 * d, eps, bias_factor)
            pre_g = self.gates_pre[t, g_rows]
            r_x[t] = ref_lrp_linear(
                self.x[t], self.w_xh[g_rows].T, b_g, pre_g, r_g, d + e, eps, bias_factor
            )
            r_h[t - 1] += ref_lrp_linear(
                self.h[t - 1], self.w_hh[g_rows].T, b_g, pre_g, r_g, d + e, eps, bias_factor
            )
        return r_x, r_h[-1], r_c[-1]


def reference_lrp(lstm, x, hx, readout, target, t, eps, bias_factor):
    """Stack single-layer single-direction reference runs, per sequence (x is [T, B, F]).

    The backward direction runs on the reversed sequence, as Arras et al. do.
    Returns R_x[T, B, F], R_h0 and R_c0 [L*D, B, H], score[B], and the top outputs.
    """
    n_steps, batch, _ = x.shape
    n_dir, d = 1 + lstm.bidirectional, lstm.hidden_size
    w, b = (p.detach().cpu().numpy() for p in (readout.weight, readout.bias))
    r_x = np.zeros(x.shape)
    r_h0, r_c0 = np.zeros(hx[0].shape), np.zeros(hx[0].shape)
    scores, outputs = np.zeros(batch), np.zeros((n_steps, batch, n_dir * d))
    for s in range(batch):
        seq, runs = x[:, s], []
        for layer in range(lstm.num_layers):
            layer_runs, outs = [], []
            for k in range(n_dir):
                run = RefDirection(lstm, layer, reverse=k == 1)
                h = run.forward(
                    seq[::-1] if k else seq,
                    hx[0][layer * n_dir + k, s],
                    hx[1][layer * n_dir + k, s],
                )
                outs.append(h[::-1] if k else h)
                layer_runs.append(run)
            runs.append(layer_runs)
            seq = np.concatenate(outs, axis=1)
        outputs[:, s] = seq
        feat = np.concatenate([seq[-1, :d], seq[0, d:]]) if t is None else seq[t]
        s_all = w @ feat + b
        mask = np.zeros(len(s_all))
        mask[target[s]] = 1.0
        scores[s] = s_all[target[s]]
        r_feat = ref_lrp_linear(feat, w.T, b, s_all, s_all * mask, len(feat), eps, bias_factor)
        r_seq = np.zeros(seq.shape)
        if t is None:
            r_seq[-1, :d], r_seq[0, d:] = r_feat[:d], r_feat[d:]
        else:
            r_seq[t] = r_feat
        for layer in reversed(range(lstm.num_layers)):
            r_in = 0.0
            for k, run in enumerate(runs[layer]):
                r_out = r_seq[:, k * d : (k + 1) * d]
                r_u, r_h0[layer * n_dir + k, s], r_c0[layer * n_dir + k, s] = run.lrp(
                    r_out[::-1] if k else r_out, eps, bias_factor
                )
                r_in = r_in + (r_u[::-1] if k else r_u)
            r_seq = r_in
        r_x[:, s] = r_seq
    return r_x, r_h0, r_c0, scores, outputs


def make_lstm(
    seed,
    input_size=3,
    hidden=4,
    layers=1,
    bidirectional=False,
    batch_first=False,
    dtype=torch.float64,
):
    torch.manual_seed(seed)
    lstm = nn.LSTM(input_size, hidden, layers, bidirectional=bidirectional, batch_first=batch_first)
    with torch.no_grad():  # larger than default weights: saturated and sign-mixed units
        for p in lstm.parameters():
            p.uniform_(-1.0, 1.0)
    return lstm.to(dtype)


def random_state(lstm, batch, seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    shape = (lstm.num_layers * (1 + lstm.bidirectional), batch, lstm.hidden_size)
    return tuple(torch.randn(shape, generator=gen, dtype=dtype) for _ in range(2))


# ---------------------------------------------------------------------------------------
# LRP: equality with the reference
# ---------------------------------------------------------------------------------------

CASES = [  # layers, bidirectional, batch_first, B, T, t, with initial state
    (1, False, False, 1, 1, -1, False),
    (1, False, False, 3, 6, -1, False),
    (1, False, True, 4, 5, 2, True),
    (2, False, False, 2, 7, -1, True),
    (1, True, False, 3, 5, None, False),
    (1, True, True, 2, 6, 3, True),
    (3, True, False, 2, 4, None, True),
]


@pytest.mark.parametrize("bias_factor", [0.0, 1.0])
@pytest.mark.parametrize(
    ("layers", "bidi", "batch_first", "batch", "n_steps", "t", "with_state"), CASES
)
def test_lrp_equals_arras_reference(
    layers, bidi, batch_first, batch, n_steps, t, with_state, bias_factor
):
    lstm = make_lstm(
        layers * 10 + batch, layers=layers, bidirectional=bidi, batch_first=batch_first
    )
    readout = nn.Linear(lstm.hidden_size * (1 + bidi), 3).double()
    gen = torch.Generator().manual_seed(n_steps)
    x = torch.randn(n_steps, batch, 3, generator=gen, dtype=torch.float64)
    hx = random_state(lstm, batch, seed=batch) if with_state else None
    target = torch.arange(batch) % 3
    ours = lstm_lrp(
        lstm,
        x.transpose(0, 1) if batch_first else x,
        readout,
        target,
        t=t,
        hx=hx,
        eps=1e-3,
        bias_factor=bias_factor,
    )
    zeros = np.zeros((layers * (1 + bidi), batch, lstm.hidden_size))
    hx_np = (zeros, zeros) if hx is None else tuple(s.numpy() for s in hx)
    r_x, r_h0, r_c0, score, outputs = reference_lrp(
        lstm, x.numpy(), hx_np, readout, target, t, 1e-3, bias_factor
    )
    torch_out = lstm(x.transpose(0, 1) if batch_first else x, hx)[0].detach()
    np.testing.assert_allclose(
        outputs, (torch_out.transpose(0, 1) if batch_first else torch_out).numpy(), atol=1e-12
    )
    np.testing.assert_allclose(ours.score.numpy(), score, atol=1e-12)
    r_input = ours.input.transpose(0, 1) if batch_first else ours.input
    assert np.abs(r_x).max() > 1e-3  # the comparison is not between zeros
    np.testing.assert_allclose(
        r_input.numpy(), r_x, rtol=0, atol=1e-6 * max(1.0, np.abs(r_x).max())
    )
    np.testing.assert_allclose(ours.h0.numpy(), r_h0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.c0.numpy(), r_c0, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------
# LRP: conservation and other properties
# ---------------------------------------------------------------------------------------


def mlp_head(in_features, dtype=torch.float64):
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(in_features, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 5)).to(
        dtype
    )


@pytest.mark.parametrize(
    ("layers", "bidi", "batch_first", "t"),
    [(1, False, False, -1), (2, True, True, 4), (2, True, False, None)],
)
def test_conservation_with_bias_factor_one(layers, bidi, batch_first, t):
    """Inputs + initial state (carrying the bias shares) sum to the explained score."""
    lstm = make_lstm(
        3, input_size=4, hidden=6, layers=layers, bidirectional=bidi, batch_first=batch_first
    )
    head = mlp_head(6 * (1 + bidi))
    x = torch.randn(5, 9, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    hx = random_state(lstm, 5 if batch_first else 9, seed=2)
    target = torch.tensor([0, 4, 2, 1, 3, 0, 1, 2, 3])[: 5 if batch_first else 9]
    rel = lstm_lrp(lstm, x, head, target, t=t, hx=hx, eps=1e-9, bias_factor=1.0)
    output = lstm(x, hx)[0].detach()
    output = output.transpose(0, 1) if batch_first else output
    features = torch.cat([output[-1, :, :6], output[0, :, 6:]], -1) if t is None else output[t]
    head.eval()
    torch.testing.assert_close(
        rel.score, head(features).detach().gather(1, target[:, None]).squeeze(1), rtol=0, atol=1e-12
    )
    time_axis = 1 if batch_first else 0
    total = rel.input.sum(dim=(time_axis, 2)) + rel.h0.sum(dim=(0, 2)) + rel.c0.sum(dim=(0, 2))
    assert rel.h0.abs().sum() > 1e-3 and rel.c0.abs().sum() > 1e-3  # the initial state matters
    torch.testing.assert_close(total, rel.score, rtol=1e-6, atol=0)


def test_bias_factor_zero_leaves_the_bias_share_out():
    lstm, head = make_lstm(4), mlp_head(4)
    x = torch.randn(6, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    kept, full = (lstm_lrp(lstm, x, head, 1, eps=1e-9, bias_factor=bf) for bf in (0.0, 1.0))
    assert (kept.input.sum(dim=(0, 2)) - full.input.sum(dim=(0, 2))).abs().min() > 1e-3
    torch.testing.assert_close(kept.score, full.score)


def test_relevance_is_causal_in_time():
    """A unidirectional LSTM read out at step t gives x after t no relevance."""
    lstm = make_lstm(5)
    x = torch.randn(8, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    rel = lstm_lrp(lstm, x, nn.Linear(4, 2).double(), 1, t=3)
    assert rel.input[4:].abs().max() == 0.0
    assert rel.input[:4].abs().min(dim=-1).values.min() > 0.0


def test_zero_state_gets_relevance_only_from_bias_shares():
    lstm, readout = make_lstm(6), nn.Linear(4, 2).double()
    x = torch.randn(5, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    rel = lstm_lrp(lstm, x, readout, 0)
    assert rel.h0.abs().max() == 0.0 and rel.c0.abs().max() == 0.0


def test_lrp_linear_without_bias_is_gradient_times_input():
    """For one bias-free linear map, the epsilon rule (eps -> 0) is gradient x input."""
    gen = torch.Generator().manual_seed(6)
    a, w = (
        torch.randn(4, 7, generator=gen, dtype=torch.float64),
        torch.randn(3, 7, generator=gen, dtype=torch.float64),
    )
    z = a @ w.T
    relevance = torch.zeros_like(z)
    relevance[:, 2] = z[:, 2]
    got = lrp_linear(a, w, None, z, relevance, n_inputs=7, eps=1e-12, bias_factor=0.0)
    torch.testing.assert_close(got, a * w[2], rtol=1e-9, atol=1e-12)


def test_from_output_matches_a_readout_at_every_step():
    """Relevance put directly on the outputs: linearity in the injected relevance."""
    lstm = make_lstm(8, layers=2)
    x = torch.randn(6, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    r_out = torch.zeros(6, 2, 4, dtype=torch.float64)
    r_out[2, :, 1], r_out[5, :, 3] = 0.5, -2.0
    both = lstm_lrp_from_output(lstm, x, r_out)
    parts = [
        lstm_lrp_from_output(lstm, x, r_out * (torch.arange(6) == t)[:, None, None]) for t in (2, 5)
    ]
    torch.testing.assert_close(both.input, parts[0].input + parts[1].input)
    torch.testing.assert_close(both.score, torch.full((2,), -1.5, dtype=torch.float64))


def test_float32_agrees_with_float64():
    lstm64 = make_lstm(9, layers=2, bidirectional=True)
    lstm32 = make_lstm(9, layers=2, bidirectional=True, dtype=torch.float32)
    head = nn.Linear(8, 3)
    x = torch.randn(7, 4, 3, generator=torch.Generator().manual_seed(9))
    r32 = lstm_lrp(lstm32, x, head, 2).input
    r64 = lstm_lrp(lstm64, x.double(), head.double(), 2).input
    assert r32.dtype == torch.float32
    torch.testing.assert_close(r32.double(), r64, rtol=0, atol=1e-4 * r64.abs().max().item())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(x=torch.randn(4, 2)), "x must be"),
        (dict(x=torch.randn(4, 2, 5, dtype=torch.float64)), "x must be"),
        (dict(x=torch.randn(4, 2, 3)), "float32"),
        (dict(target=torch.tensor([0, 1, 2])), "target must be"),
        (dict(target=3), "target must index"),
        (dict(t=4), "outside the sequence"),
        (dict(eps=0.0), "eps must be > 0"),
        (dict(head=nn.Sequential(nn.Linear(4, 3), nn.Tanh())), "Tanh is not supported"),
        (dict(hx=(torch.zeros(1, 3, 4, dtype=torch.float64),) * 2), "h0 must be"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    call = dict(
        x=torch.randn(4, 2, 3, dtype=torch.float64), head=nn.Linear(4, 3).double(), target=0
    )
    call.update(kwargs)
    x, head, target = call.pop("x"), call.pop("head"), call.pop("target")
    with pytest.raises(ValueError, match=message):
        lstm_lrp(make_lstm(0), x, head, target, **call)


def test_unsupported_lstms_are_refused():
    with pytest.raises(ValueError, match="proj_size"):
        lstm_lrp(nn.LSTM(3, 4, proj_size=2), torch.randn(2, 1, 3), None, 0)
    with pytest.raises(TypeError, match="GRU"):
        lstm_lrp(nn.GRU(3, 4), torch.randn(2, 1, 3), None, 0)


# ---------------------------------------------------------------------------------------
# A trained LSTM: relevance points at the cue
# ---------------------------------------------------------------------------------------


def cue_batch(n_seq, n_steps, gen):
    """The target value sits in channel 0 at t=0 (flag 1 in channel 1); noise elsewhere."""
    x = 0.5 * torch.randn(n_steps, n_seq, 2, generator=gen)
    value = 2.0 * torch.rand(n_seq, generator=gen) - 1.0
    x[0, :, 0], x[0, :, 1] = value, 1.0
    return x, value


@pytest.fixture(scope="module")
def cue_model():
    """An LSTM(2, 16) + linear readout trained 400 Adam steps (~0.5 s on one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: more threads only contend
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    lstm, head = nn.LSTM(2, 16), nn.Linear(16, 1)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-2)
    try:
        for _ in range(400):
            x, value = cue_batch(64, 8, gen)
            loss = (score_fn(lstm, head)(x) - value).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    x, value = cue_batch(256, 8, gen)
    return lstm, head, x, value


def score_fn(lstm, head):
    """``x[T, B, F]`` -> the head's first output at the last step, ``[B]``."""

    def score(x):
        return head(lstm(x)[0][-1])[:, 0]

    return score


def test_lrp_points_at_the_cue(cue_model):
    lstm, head, x, value = cue_model
    with torch.no_grad():
        assert (score_fn(lstm, head)(x) - value).pow(2).mean() < 0.01 * value.var()  # it learned
    per_step = lstm_lrp(lstm, x, head, 0).input.abs().sum(dim=-1)  # [T, B]
    assert per_step[0].sum() / per_step.sum() > 0.45  # measured 0.56; uniform would be 0.125
    clear = value.abs() > 0.3  # a cue near 0 explains a score near 0
    assert (per_step.argmax(dim=0) == 0)[clear].float().mean() > 0.95  # measured 1.0


# ---------------------------------------------------------------------------------------
# Gradient baselines
# ---------------------------------------------------------------------------------------


def test_baselines_point_at_the_cue(cue_model):
    lstm, head, x, _ = cue_model
    for attribution in (
        gradient_x_input(score_fn(lstm, head), x),
        integrated_gradients(score_fn(lstm, head), x),
    ):
        per_step = attribution.abs().sum(dim=-1)
        assert per_step[0].sum() / per_step.sum() > 0.7


@pytest.mark.parametrize("steps", [16, 32])
def test_integrated_gradients_completeness(steps):
    """Sum of attributions = f(x) - f(baseline), to the (Gauss-Legendre) quadrature error."""
    lstm, readout = make_lstm(11, layers=2), nn.Linear(4, 1).double()
    nn.init.uniform_(readout.weight, -2.0, 2.0)
    f = score_fn(lstm, readout)
    x = torch.randn(6, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    baseline = -0.5 * x
    for base in (None, baseline):
        attribution = integrated_gradients(f, x, baseline=base, steps=steps, internal_batch_size=64)
        with torch.no_grad():
            gap = f(x) - f(torch.zeros_like(x) if base is None else base)
        assert gap.abs().max() > 0.05
        torch.testing.assert_close(attribution.sum(dim=(0, 2)), gap, rtol=1e-3, atol=1e-5)


def test_gradient_x_input_and_batch_dim():
    lstm, readout = make_lstm(12, batch_first=True), nn.Linear(4, 1).double()

    def batch_major(x):  # x[B, T, F]
        return readout(lstm(x)[0][:, -1])[:, 0]

    def time_major(x):  # x[T, B, F]
        return batch_major(x.transpose(0, 1))

    x = torch.randn(3, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(12))
    x_grad = x.clone().requires_grad_()
    batch_major(x_grad).sum().backward()
    torch.testing.assert_close(gradient_x_input(batch_major, x, batch_dim=0), x * x_grad.grad)
    torch.testing.assert_close(
        integrated_gradients(time_major, x.transpose(0, 1)),
        integrated_gradients(batch_major, x, batch_dim=0).transpose(0, 1),
    )


def test_baselines_explain_a_chosen_output_per_sequence():
    """``f`` returns ``[B, C]`` (Q-values), ``target[B]`` picks one output (action) each."""
    lstm, head = make_lstm(14), mlp_head(4)

    def q_values(x):
        return head.eval()(lstm(x)[0][-1])

    x = torch.randn(5, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(14))
    target = torch.tensor([0, 4, 1, 3, 2, 2])
    x_grad = x.clone().requires_grad_()
    q_values(x_grad).gather(1, target[:, None]).sum().backward()
    torch.testing.assert_close(gradient_x_input(q_values, x, target=target), x * x_grad.grad)
    attribution = integrated_gradients(q_values, x, target=target, steps=32)
    with torch.no_grad():
        gap = (q_values(x) - q_values(torch.zeros_like(x))).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(attribution.sum(dim=(0, 2)), gap, rtol=1e-3, atol=1e-6)


def test_baselines_name_bad_input():
    def per_feature(x):  # [B, F]: not one score per sequence
        return x.sum(dim=0)

    def total(x):
        return x.sum(dim=(0, 2))

    x = torch.randn(4, 2, 3)
    with pytest.raises(ValueError, match=r"scores \[B\] with B=2"):
        gradient_x_input(per_feature, x)
    with pytest.raises(ValueError, match=r"scores \[B, C\] with B=\d+ \(a target is given\)"):
        integrated_gradients(total, x, target=0)
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(total, x, steps=0)
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(total, x, baseline=torch.zeros(4, 2))


# ---------------------------------------------------------------------------------------
# GPU (skipped without CUDA)
# ---------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gpu_matches_cpu(dtype):
    """Same relevances on the GPU (float64: to rounding; float32: to 1e-4 of the largest)."""
    cpu = make_lstm(13, layers=2, bidirectional=True, batch_first=True)
    gpu = make_lstm(13, layers=2, bidirectional=True, batch_first=True, dtype=dtype).cuda()
    head_cpu, head_gpu = mlp_head(8), mlp_head(8, dtype).cuda().eval()
    x = torch.randn(16, 20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(13))
    hx = random_state(cpu, 16, seed=13)
    target = torch.arange(16) % 5
    expected = lstm_lrp(cpu, x, head_cpu, target, t=10, hx=hx, bias_factor=1.0)
    got = lstm_lrp(
        gpu,
        x.to("cuda", dtype),
        head_gpu,
        target.cuda(),
        t=10,
        hx=tuple(s.to("cuda", dtype) for s in hx),
        bias_factor=1.0,
    )
    tolerance = 1e-10 if dtype == torch.float64 else 1e-4
    for ours, ref in zip(got, expected, strict=True):
        assert ours.is_cuda and ours.dtype == dtype
        torch.testing.assert_close(
            ours.double().cpu(), ref, rtol=0, atol=tolerance * ref.abs().max().item()
        )

    def scores(x):  # through cuDNN's LSTM in eval mode
        return head_gpu(gpu.eval()(x)[0][:, -1])

    x_gpu = x.to("cuda", dtype)
    attribution = integrated_gradients(scores, x_gpu, target=target.cuda(), batch_dim=0)
    assert attribution.is_cuda
    with torch.no_grad():
        gap = (scores(x_gpu) - scores(torch.zeros_like(x_gpu))).gather(1, target.cuda()[:, None])
    gap = gap[:, 0]
    torch.testing.assert_close(attribution.sum(dim=(1, 2)), gap, rtol=1e-2, atol=1e-3)


def test_gradient_baselines_without_captum_name_the_extra(monkeypatch):
    import builtins

    from stateful_rl.encoders.attribution import gradient_x_input

    real_import = builtins.__import__

    def no_captum(name, *args, **kwargs):
        if name.startswith("captum"):
            raise ImportError("No module named 'captum'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_captum)
    with pytest.raises(ImportError, match=r"stateful-rl\[explain\]"):
        gradient_x_input(lambda x: x.sum(dim=(0, 2)), torch.ones(3, 2, 4))
