"""Layer-wise relevance propagation (LRP) through a ``torch.nn.LSTM``, batched.

Implements Arras, Montavon, Müller & Samek (2017), "Explaining recurrent neural network
predictions in sentiment analysis" (WASSA), Sec. 3, as in their reference code
LRP_for_LSTM v1.0: the epsilon rule for every linear map (:func:`lrp_linear`) and
"signal-take-all" for the multiplicative gates (the gates i, f, o get no relevance; the
signals ``f*c[t-1]`` and ``i*g`` get all of it, and ``h = o*tanh(c)`` hands its relevance
to ``c``). Captum and zennit have no LSTM rule, hence this module.

Works for single- and multi-layer, uni- and bidirectional LSTMs, ``batch_first`` either
way, float32/float64, on the device of the module. The score explained is a linear readout
(or a small Linear/ReLU head) of the top layer's output at one time step ``t``, so a
recurrent agent's Q-value at step ``t`` can be explained from a stored initial state.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch
from torch import Tensor, nn

# Head layers that hand their output relevance to their input unchanged (Linear: epsilon rule).
_PASS_THROUGH = (nn.ReLU, nn.Identity, nn.Dropout)


class LSTMRelevance(NamedTuple):
    """Relevances, each summed over nothing: one value per input unit.

    ``input`` has the layout of ``x`` (``[T, B, F]``, or ``[B, T, F]`` if the LSTM is
    ``batch_first``); ``h0`` and ``c0`` are ``[num_layers * num_directions, B, H]`` like
    ``nn.LSTM``'s initial state; ``score[B]`` is what was explained (the target's score, or
    for :func:`lstm_lrp_from_output` the total relevance put on the outputs). With
    ``bias_factor=1`` the three relevances sum to ``score`` (conservation).
    """

    input: Tensor
    h0: Tensor
    c0: Tensor
    score: Tensor


def lrp_linear(
    a: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    z: Tensor,
    relevance: Tensor,
    *,
    n_inputs: int,
    eps: float,
    bias_factor: float,
) -> Tensor:
    """Epsilon rule for ``z = a @ weight.T + bias (+ other inputs)`` (Arras et al. 2017, Sec. 3).

    ``R_i = sum_j (a_i w_ji + bias_factor (b_j + eps s_j) / N) / (z_j + eps s_j) R_j`` with
    ``s_j = sign(z_j)`` (+1 at 0) and ``N = n_inputs``, the number of input units sharing the
    bias and stabiliser (all inputs of ``z``, over every operand when ``z`` has several).

    Shapes: ``a[B, D]``, ``weight[M, D]`` (``nn.Linear`` layout; ``None`` = identity,
    ``M = D``), ``bias[M]`` or ``None``, ``z[B, M]`` the full pre-activation,
    ``relevance[B, M]`` -> ``[B, D]``.
    """
    sign = torch.where(z >= 0, 1.0, -1.0).to(z)
    ratio = relevance / (z + eps * sign)
    out = a * (ratio if weight is None else ratio @ weight)
    if bias_factor:
        shared = eps * sign if bias is None else bias + eps * sign
        out = out + (bias_factor / n_inputs) * (shared * ratio).sum(-1, keepdim=True)
    return out


class _Trace(NamedTuple):
    """Forward quantities of one LSTM direction, in processing order (``[T, B, .]``)."""

    h_prev: Tensor
    f_c_prev: Tensor  # f * c[t-1]
    i_g: Tensor  # i * g
    c: Tensor
    pre_g: Tensor  # pre-activation of the cell input g
    h: Tensor  # output, in time order


def _params(lstm: nn.LSTM, layer: int, reverse: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``weight_ih[4H, E]``, ``weight_hh[4H, H]``, summed ``bias[4H]`` of one direction."""
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    w_ih = getattr(lstm, "weight_ih" + suffix)
    w_hh = getattr(lstm, "weight_hh" + suffix)
    if lstm.bias:
        bias = getattr(lstm, "bias_ih" + suffix) + getattr(lstm, "bias_hh" + suffix)
    else:
        bias = torch.zeros_like(w_ih[:, 0])
    return w_ih, w_hh, bias


def _forward(
    u: Tensor, w_ih: Tensor, w_hh: Tensor, bias: Tensor, h: Tensor, c: Tensor, reverse: bool
) -> _Trace:
    """Run one direction over ``u[T, B, E]`` from ``h, c [B, H]`` (torch gate order i,f,g,o)."""
    steps = range(u.shape[0] - 1, -1, -1) if reverse else range(u.shape[0])
    from_input = u @ w_ih.T + bias
    h_prev, f_c_prev, i_g, cs, pre_gs, hs = [], [], [], [], [], []
    for t in steps:
        pre_i, pre_f, pre_g, pre_o = (from_input[t] + h @ w_hh.T).chunk(4, dim=-1)
        h_prev.append(h)
        f_c_prev.append(torch.sigmoid(pre_f) * c)
        i_g.append(torch.sigmoid(pre_i) * torch.tanh(pre_g))
        c = f_c_prev[-1] + i_g[-1]
        h = torch.sigmoid(pre_o) * torch.tanh(c)
        cs.append(c)
        pre_gs.append(pre_g)
        hs.append(h)
    if reverse:
        hs.reverse()
    return _Trace(*(torch.stack(v) for v in (h_prev, f_c_prev, i_g, cs, pre_gs, hs)))


def _backward(
    trace: _Trace,
    u: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    bias: Tensor,
    r_out: Tensor,
    reverse: bool,
    eps: float,
    bias_factor: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Relevance of ``u[T, B, E]``, ``h0`` and ``c0`` given relevance ``r_out[T, B, H]`` on
    the outputs ``h[t]`` (Arras et al. 2017: LRP_for_LSTM's backward loop, batched)."""
    n_steps, _, hidden = r_out.shape
    w_ih_g, w_hh_g = w_ih[2 * hidden : 3 * hidden], w_hh[2 * hidden : 3 * hidden]
    bias_g = bias[2 * hidden : 3 * hidden]
    gate_inputs = hidden + u.shape[-1]
    r_u = torch.zeros_like(u)
    r_h = torch.zeros_like(r_out[0])
    r_c = torch.zeros_like(r_out[0])
    for k in reversed(range(n_steps)):
        t = n_steps - 1 - k if reverse else k
        r_c = r_c + r_h + r_out[t]  # h = o * tanh(c): all of h's relevance goes to c
        # c = f c[t-1] + i g: the two signals share c's relevance
        cell = partial(lrp_linear, n_inputs=2 * hidden, eps=eps, bias_factor=bias_factor)
        r_g = cell(trace.i_g[k], None, None, trace.c[k], r_c)
        r_c = cell(trace.f_c_prev[k], None, None, trace.c[k], r_c)
        # the pre-activation of g, W_ih,g u + W_hh,g h[t-1] + b_g, hands on r_g
        gate = partial(lrp_linear, n_inputs=gate_inputs, eps=eps, bias_factor=bias_factor)
        r_u[t] = gate(u[t], w_ih_g, bias_g, trace.pre_g[k], r_g)
        r_h = gate(trace.h_prev[k], w_hh_g, bias_g, trace.pre_g[k], r_g)
    return r_u, r_h, r_c


def _check_lstm_input(
    lstm: nn.LSTM, x: Tensor, hx: tuple[Tensor, Tensor] | None, eps: float
) -> None:
    """Raise a ``ValueError``/``TypeError`` naming what does not fit ``lstm``."""
    if eps <= 0:
        raise ValueError(f"eps must be > 0 (it keeps denominators off zero), got {eps}")
    if not isinstance(lstm, nn.LSTM):
        raise TypeError(f"expected a torch.nn.LSTM, got {type(lstm).__name__}")
    if lstm.proj_size:
        raise ValueError("LSTMs with proj_size > 0 are not supported")
    weight = lstm.weight_ih_l0
    layout = "[B, T, F]" if lstm.batch_first else "[T, B, F]"
    if x.dim() != 3 or x.shape[-1] != lstm.input_size:
        raise ValueError(f"x must be {layout} with F={lstm.input_size}, got {tuple(x.shape)}")
    if x.dtype != weight.dtype or x.device != weight.device:
        raise ValueError(
            f"x is {x.dtype} on {x.device} but the LSTM is {weight.dtype} on {weight.device}"
        )
    if hx is not None:
        batch = x.shape[0] if lstm.batch_first else x.shape[1]
        shape = (lstm.num_layers * (2 if lstm.bidirectional else 1), batch, lstm.hidden_size)
        for name, s in zip(("h0", "c0"), hx, strict=True):
            if tuple(s.shape) != shape or s.dtype != x.dtype or s.device != x.device:
                raise ValueError(
                    f"{name} must be {shape} {x.dtype} on {x.device}, "
                    f"got {tuple(s.shape)} {s.dtype} on {s.device}"
                )


@torch.no_grad()
def _lstm_relevance(
    lstm: nn.LSTM,
    x: Tensor,
    hx: tuple[Tensor, Tensor] | None,
    output_relevance: Callable[[Tensor], tuple[Tensor, Tensor]],
    eps: float,
    bias_factor: float,
) -> LSTMRelevance:
    """Forward through every layer, then LRP top-down. ``output_relevance`` maps the top
    layer's output ``[T, B, D*H]`` to ``(relevance on it, score[B])``."""
    seq = x.transpose(0, 1) if lstm.batch_first else x
    n_dir, hidden = 2 if lstm.bidirectional else 1, lstm.hidden_size
    if hx is None:
        zeros = seq.new_zeros(lstm.num_layers * n_dir, seq.shape[1], hidden)
        hx = (zeros, zeros)
    inputs, traces = [], []
    for layer in range(lstm.num_layers):
        inputs.append(seq)
        layer_traces = []
        for d in range(n_dir):
            k = layer * n_dir + d
            layer_traces.append(
                _forward(seq, *_params(lstm, layer, d == 1), hx[0][k], hx[1][k], d == 1)
            )
        traces.append(layer_traces)
        seq = torch.cat([tr.h for tr in layer_traces], dim=-1)
    r_seq, score = output_relevance(seq)
    r_h0, r_c0 = torch.zeros_like(hx[0]), torch.zeros_like(hx[1])
    for layer in reversed(range(lstm.num_layers)):
        r_in = torch.zeros_like(inputs[layer])
        for d in range(n_dir):
            k = layer * n_dir + d
            r_u, r_h0[k], r_c0[k] = _backward(
                traces[layer][d],
                inputs[layer],
                *_params(lstm, layer, d == 1),
                r_seq[..., d * hidden : (d + 1) * hidden],
                d == 1,
                eps,
                bias_factor,
            )
            r_in += r_u
        r_seq = r_in
    return LSTMRelevance(r_seq.transpose(0, 1) if lstm.batch_first else r_seq, r_h0, r_c0, score)


def lstm_lrp_from_output(
    lstm: nn.LSTM,
    x: Tensor,
    output_relevance: Tensor,
    *,
    hx: tuple[Tensor, Tensor] | None = None,
    eps: float = 1e-3,
    bias_factor: float = 0.0,
) -> LSTMRelevance:
    """LRP of relevance placed on the LSTM's output sequence ``output[T, B, D*H]`` (layout of
    ``x``, as ``nn.LSTM`` returns it) back to ``x``, ``h0`` and ``c0``; for custom readouts."""
    _check_lstm_input(lstm, x, hx, eps)
    expected = (*x.shape[:2], lstm.hidden_size * (2 if lstm.bidirectional else 1))
    if tuple(output_relevance.shape) != expected:
        raise ValueError(
            f"output_relevance must have shape {expected}, got {tuple(output_relevance.shape)}"
        )
    r_out = output_relevance.transpose(0, 1) if lstm.batch_first else output_relevance
    return _lstm_relevance(lstm, x, hx, lambda _: (r_out, r_out.sum(dim=(0, 2))), eps, bias_factor)


def _head_layers(head: nn.Module | None) -> list[nn.Module]:
    """The head as a flat list of supported layers; ``ValueError`` naming any other layer."""
    layers = [] if head is None else list(head) if isinstance(head, nn.Sequential) else [head]
    for layer in layers:
        if not isinstance(layer, (nn.Linear, *_PASS_THROUGH)):
            raise ValueError(
                f"head layer {type(layer).__name__} is not supported: use nn.Linear, nn.ReLU, "
                "nn.Dropout or nn.Identity (in an nn.Sequential)"
            )
    return layers


def _head_lrp(
    layers: list[nn.Module], features: Tensor, target: Tensor, eps: float, bias_factor: float
) -> tuple[Tensor, Tensor]:
    """Score ``head(features)[b, target[b]]`` and its relevance on ``features[B, K]``,
    starting from ``R = score`` on the target unit (Arras et al.: ``Rout = s * mask``)."""
    activations = [features]
    for layer in layers:
        # dropout is explained as evaluated (off), whatever the module's train flag
        activations.append(
            activations[-1] if isinstance(layer, nn.Dropout) else layer(activations[-1])
        )
    scores = activations[-1]
    if scores.dim() != 2 or not (0 <= int(target.min()) and int(target.max()) < scores.shape[1]):
        raise ValueError(
            f"target must index the {scores.shape[-1]} head outputs, got values in "
            f"[{int(target.min())}, {int(target.max())}]"
        )
    score = scores.gather(1, target[:, None]).squeeze(1)
    relevance = torch.zeros_like(scores).scatter_(1, target[:, None], score[:, None])
    for layer, a, z in zip(reversed(layers), activations[-2::-1], activations[:0:-1], strict=True):
        if isinstance(layer, nn.Linear):
            relevance = lrp_linear(
                a,
                layer.weight,
                layer.bias,
                z,
                relevance,
                n_inputs=layer.in_features,
                eps=eps,
                bias_factor=bias_factor,
            )
    return relevance, score


def lstm_lrp(
    lstm: nn.LSTM,
    x: Tensor,
    head: nn.Module | None,
    target: Tensor | int,
    *,
    t: int | None = -1,
    hx: tuple[Tensor, Tensor] | None = None,
    eps: float = 1e-3,
    bias_factor: float = 0.0,
) -> LSTMRelevance:
    """Explain ``score[b] = head(features[b])[target[b]]`` by LRP (Arras et al. 2017).

    ``x`` is ``[T, B, F]`` (``[B, T, F]`` if ``lstm.batch_first``); ``hx = (h0, c0)``, each
    ``[num_layers * num_directions, B, H]``, is the initial state (zeros if ``None``).
    ``features[B, D*H]`` is the top layer's output at time ``t`` (``output[t]``; a Q-value at
    step ``t`` depends on ``h_t`` only, so ``x`` after ``t`` gets zero relevance), or for
    ``t=None`` the final states ``h_n`` (forward at ``T-1``, backward at ``0``, as Arras et
    al. read out a bidirectional LSTM). ``head`` is an ``nn.Linear`` (readout ``[C, D*H]``),
    an ``nn.Sequential`` of Linear/ReLU/Dropout/Identity (evaluated without dropout), or
    ``None`` (explain hidden unit ``target`` itself). ``target`` is an int or ``[B]`` long.
    ``bias_factor=1`` redistributes biases and stabilisers onto the inputs so that relevance
    is conserved; ``0`` (the recommended default) lets them absorb their share.
    """
    _check_lstm_input(lstm, x, hx, eps)
    layers = _head_layers(head)
    n_steps, batch = (x.shape[1], x.shape[0]) if lstm.batch_first else x.shape[:2]
    if t is not None and not -n_steps <= t < n_steps:
        raise ValueError(f"t={t} is outside the sequence of length T={n_steps}")
    target = torch.as_tensor(target, device=x.device).long()
    if target.shape not in ((), (batch,)):
        raise ValueError(
            f"target must be an int or a [B={batch}] tensor, got {tuple(target.shape)}"
        )
    target = target.expand(batch)
    hidden = lstm.hidden_size

    def output_relevance(output: Tensor) -> tuple[Tensor, Tensor]:
        if t is None:
            features = torch.cat([output[-1, :, :hidden], output[0, :, hidden:]], dim=-1)
        else:
            features = output[t]
        r_features, score = _head_lrp(layers, features, target, eps, bias_factor)
        r_out = torch.zeros_like(output)
        if t is None:
            r_out[-1, :, :hidden] = r_features[:, :hidden]
            r_out[0, :, hidden:] = r_features[:, hidden:]
        else:
            r_out[t] = r_features
        return r_out, score

    return _lstm_relevance(lstm, x, hx, output_relevance, eps, bias_factor)
