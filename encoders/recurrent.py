"""LSTM and GRU encoders on torch's fused kernels (cuDNN on GPU, oneDNN/ATen on CPU), with
exact state resets inside a sequence.

A reset-free batch is one ``nn.LSTM``/``nn.GRU`` call. Resets inside a batch run by
``reset_mode``:

- ``"saturate"`` (LSTM): still one fused call per layer. Two flag inputs are appended to
  ``x`` with weights ±√(float max) on the input and forget gates, so a flagged step
  saturates them to exactly 0 or 1: a *zeroing* step (i = f = 0: c = 0, h = 0) is
  inserted before each reset, and lanes that had fewer resets are padded at the end with
  *hold* steps (i = 0, f = 1: c kept; h_T is read from the last real output). Every gate
  derivative is exactly 0 on the inserted steps, so outputs and gradients equal the
  step loop; the cost is ``T + (most resets in one sequence)`` fused steps.
- ``"split"`` cuts the batch at the steps where any sequence starts an episode and makes
  one fused call per reset-free segment: one call per step in the worst case.
- ``"loop"`` is the reference, one call per step.

``"auto"`` picks saturate for the LSTM on CPU, where one fused call per layer costs little
more than a reset-free call, and split otherwise: the GRU's update gate cannot zero its
state by saturation, and saturate is not measured on cuDNN. Packing the reset-free pieces
into one ``PackedSequence`` is not offered: on CPU ATen runs packed sequences in an
unfused kernel, several times slower than a plain call. ``python -m
stateful_rl.bench.encoders lstm`` measures the modes.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from stateful_rl.encoders.base import State, StateEncoder
from stateful_rl.encoders.fused_rnn import rnn_layer

ResetMode = Literal["auto", "saturate", "split", "loop"]


@torch.no_grad()
def chrono_init(lstm: nn.LSTM, max_lag: int, generator: torch.Generator | None = None) -> None:
    """Chrono initialisation (Tallec & Ollivier, ICLR 2018): forget-gate bias
    ``log U(1, max_lag − 1)``, input-gate bias its negative, so that the cell's memory
    spans time scales up to ``max_lag`` steps from the start of training."""
    hidden = lstm.hidden_size
    for layer in range(lstm.num_layers):
        spans = torch.empty(hidden).uniform_(1.0, max(max_lag - 1.0, 2.0), generator=generator)
        forget = torch.log(spans)
        bias_ih, bias_hh = getattr(lstm, f"bias_ih_l{layer}"), getattr(lstm, f"bias_hh_l{layer}")
        bias_ih[:hidden], bias_ih[hidden : 2 * hidden] = -forget, forget
        bias_hh[: 2 * hidden] = 0.0


class _FusedRecurrentEncoder(StateEncoder):
    """Shared body of :class:`LSTMEncoder` and :class:`GRUEncoder`.

    State: one tensor ``[B, num_layers, hidden_size]`` per ``nn.LSTM``/``nn.GRU`` state
    (``(h, c)`` for the LSTM, ``(h,)`` for the GRU); features are the last layer's ``h_t``.
    """

    rnn_class: type[nn.LSTM] | type[nn.GRU]
    num_states: int

    def __init__(
        self,
        input_dim: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        reset_mode: ResetMode = "auto",
    ) -> None:
        super().__init__()
        if input_dim < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError(
                f"input_dim, hidden_size and num_layers must be >= 1, got "
                f"{input_dim}, {hidden_size}, {num_layers}"
            )
        lstm_only = ("saturate",) if self.num_states == 2 else ()
        modes = ("auto", *lstm_only, "split", "loop")
        if reset_mode not in modes:
            raise ValueError(f"reset_mode must be one of {modes}, got {reset_mode!r}")
        self.input_dim = input_dim
        self.features_dim = hidden_size
        self.num_layers = num_layers
        self.reset_mode = reset_mode
        # built without drawing weights, so that construction draws exactly what
        # reset_parameters draws (the same seed gives the same weights)
        self.rnn = self.rnn_class(input_dim, hidden_size, num_layers, device="meta")
        self.rnn.to_empty(device=torch.empty(0).device)  # torch's default device
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """torch's ``nn.LSTM``/``nn.GRU`` init (every weight and bias uniform(±1/√H), in
        the module's parameter order), then :meth:`_init_biases`."""
        bound = 1.0 / math.sqrt(self.features_dim)
        for weight in self.rnn.parameters():
            weight.uniform_(-bound, bound, generator=generator)
        self._init_biases(generator)

    def _init_biases(self, generator: torch.Generator | None) -> None:
        """Hook for gate-bias initialisation after the uniform draw (none: torch's)."""

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """Zeros, ``num_states`` tensors of shape ``[B, num_layers, hidden_size]``."""
        dtype = next(self.rnn.parameters()).dtype
        shape = (batch_size, self.num_layers, self.features_dim)
        return tuple(torch.zeros(shape, device=device, dtype=dtype) for _ in range(self.num_states))

    def _run(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One fused call on a reset-free ``x[T, B, F]``; ``state`` is batch-first."""
        hidden = tuple(s.transpose(0, 1).contiguous() for s in state)
        out, hidden = self.rnn(x, hidden if self.num_states == 2 else hidden[0])
        hidden = hidden if self.num_states == 2 else (hidden,)
        return out, tuple(h.transpose(0, 1) for h in hidden)

    def forward(
        self, x: torch.Tensor, state: State, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """``x[T, B, F]``, ``episode_starts[T, B]`` -> ``features[T, B, H]`` and final state."""
        self.check_input(x, episode_starts)
        starts = episode_starts.bool()
        steps = x.shape[0]
        reset_steps = (torch.nonzero(starts[1:].any(dim=1)).flatten() + 1).tolist()
        mode = self.reset_mode
        if mode == "auto":
            lstm_cpu = self.num_states == 2 and x.device.type == "cpu"
            mode = "saturate" if lstm_cpu else "split"
        if mode == "saturate" and reset_steps:
            return self._saturated(x, state, starts)
        cuts = list(range(steps)) if mode == "loop" else [0, *reset_steps]
        outputs = []
        for begin, end in zip(cuts, [*cuts[1:], steps], strict=True):
            out, state = self._run(x[begin:end], self.reset_where(state, starts[begin]))
            outputs.append(out)
        return torch.cat(outputs) if len(outputs) > 1 else outputs[0], state

    def _layer_weights(self, layer: int) -> list[torch.Tensor]:
        """``[W_ih, W_hh, b_ih, b_hh]`` of one layer."""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return [getattr(self.rnn, f"{name}_l{layer}") for name in names]

    def _saturated(
        self, x: torch.Tensor, state: State, starts: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """Resets by saturated gates (LSTM only; see the module docstring): the steps of
        sequence ``b`` move to lane times ``pos[t, b] = t + (resets of b in 1..t)``."""
        steps, batch, _ = x.shape
        hidden = self.features_dim
        h0, c0 = self.reset_where(state, starts[0])
        inner = starts.clone()
        inner[0] = False  # a start at step 0 is the reset of the initial state above
        pos = torch.arange(steps, device=x.device).unsqueeze(1) + inner.long().cumsum(0)
        lanes = torch.arange(batch, device=x.device).expand(steps, batch)
        length = int(pos[-1].max()) + 1
        flags = x.new_zeros(length, batch, 2)  # [zeroing step, hold step]
        reset_t, reset_b = torch.nonzero(inner, as_tuple=True)
        flags[pos[reset_t, reset_b] - 1, reset_b, 0] = 1
        flags[..., 1] = torch.arange(length, device=x.device).unsqueeze(1) > pos[-1]
        big = torch.finfo(x.dtype).max ** 0.5  # σ(±big) is exactly 1 or 0, no overflow
        flag_weights = x.new_zeros(4 * hidden, 2)  # torch's gate order: i, f, g, o
        flag_weights[: 2 * hidden, 0] = -big
        flag_weights[:hidden, 1] = -big
        flag_weights[hidden : 2 * hidden, 1] = big
        out = x.new_zeros(length, batch, x.shape[2]).index_put((pos, lanes), x)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self._layer_weights(layer)
            hidden_state = tuple(s[:, layer].unsqueeze(0).contiguous() for s in (h0, c0))
            weights = [torch.cat([w_ih, flag_weights], dim=1), w_hh, b_ih, b_hh]
            out, (_, c) = rnn_layer(
                "lstm", torch.cat([out, flags], dim=2), hidden_state, weights, self.training
            )
            h_n.append(out[pos[-1], lanes[0]])
            c_n.append(c[0])
        return out[pos, lanes], (torch.stack(h_n, dim=1), torch.stack(c_n, dim=1))


class LSTMEncoder(_FusedRecurrentEncoder):
    """LSTM (Hochreiter & Schmidhuber 1997) state encoder on ``nn.LSTM``.

    Args:
        input_dim: observation size ``F``.
        hidden_size: ``H`` = ``features_dim``.
        num_layers: stacked layers.
        reset_mode: how resets inside a sequence are run: ``"saturate"`` (one fused call
            per layer, resets by saturated gates), ``"split"`` (one fused call per
            reset-free segment), ``"loop"`` (one call per step, the reference) or
            ``"auto"``: saturate on CPU, split elsewhere (see the module docstring).
        chrono_max_lag: if given (≥ 2 steps), gate biases by :func:`chrono_init` for
            dependencies up to this many steps; otherwise forget-gate bias 1.
    """

    rnn_class = nn.LSTM
    num_states = 2

    def __init__(
        self,
        input_dim: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        reset_mode: ResetMode = "auto",
        chrono_max_lag: int | None = None,
    ) -> None:
        if chrono_max_lag is not None and (
            isinstance(chrono_max_lag, bool) or not isinstance(chrono_max_lag, int)
            or chrono_max_lag < 2
        ):  # fmt: skip
            raise ValueError(f"chrono_max_lag must be None or an int >= 2, got {chrono_max_lag!r}")
        self.chrono_max_lag = chrono_max_lag
        super().__init__(input_dim, hidden_size, num_layers, reset_mode)

    @torch.no_grad()
    def _init_biases(self, generator: torch.Generator | None) -> None:
        """Chrono biases if ``chrono_max_lag`` is set, else forget-gate bias 1 (Gers et al.
        2000; Jozefowicz et al. 2015): with torch's default (≈ 0) the forget gate starts
        near 0.5 and gradients vanish as 0.5^lag."""
        if self.chrono_max_lag is not None:
            assert isinstance(self.rnn, nn.LSTM)  # rnn_class, for the type checker
            chrono_init(self.rnn, self.chrono_max_lag, generator)
            return
        hidden = self.features_dim
        for layer in range(self.num_layers):
            getattr(self.rnn, f"bias_ih_l{layer}")[hidden : 2 * hidden] = 1.0
            getattr(self.rnn, f"bias_hh_l{layer}")[hidden : 2 * hidden] = 0.0


class GRUEncoder(_FusedRecurrentEncoder):
    """GRU (Cho et al. 2014) state encoder on ``nn.GRU``; arguments as :class:`LSTMEncoder`
    (``reset_mode``: ``"split"``, ``"loop"`` or ``"auto"`` = split)."""

    rnn_class = nn.GRU
    num_states = 1
