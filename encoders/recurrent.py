"""LSTM and GRU encoders on torch's fused kernels (cuDNN on GPU, ATen on CPU), with exact
state resets inside a sequence.

A reset-free batch is one ``nn.LSTM``/``nn.GRU`` call. Resets inside a batch run by
``reset_mode``: ``"split"`` cuts the batch at the steps where any sequence starts an
episode and makes one fused call per reset-free segment (zeroing the state of the sequences
that start there): cheap with few reset steps, one call per step in the worst case.
``"masked"`` (LSTM) runs one layer with a hand-written forward/backward that zeroes the
state by a mask (:mod:`~stateful_rl.encoders.masked_lstm`): its cost does not grow with the
number of resets. ``"loop"`` is the reference, one call per step. ``"auto"`` picks split,
or masked on CPU when more than a quarter of the steps hold a start. Packing the reset-free
pieces into one ``PackedSequence`` was 4× slower than a plain call on CPU (ATen's packed
kernel), so it is not offered. ``python -m stateful_rl.bench_encoders lstm`` measures the
modes against a plain reset-free call.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from stateful_rl.encoders.base import State, StateEncoder
from stateful_rl.encoders.masked_lstm import MaskedLSTMFunction

ResetMode = Literal["auto", "masked", "split", "loop"]


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
        modes = (
            ("auto", "masked", "split", "loop")
            if self.num_states == 2
            else ("auto", "split", "loop")
        )
        if reset_mode not in modes:
            raise ValueError(f"reset_mode must be one of {modes}, got {reset_mode!r}")
        self.input_dim = input_dim
        self.features_dim = hidden_size
        self.num_layers = num_layers
        self.reset_mode = reset_mode
        self.rnn = self.rnn_class(input_dim, hidden_size, num_layers)
        self._init_biases()

    def _init_biases(self) -> None:
        """Hook for gate-bias initialisation (none: torch's default)."""

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """Zeros, ``num_states`` tensors of shape ``[B, num_layers, hidden_size]``."""
        dtype = self.rnn.weight_ih_l0.dtype
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
        if mode == "auto":  # split pays one call per reset step, masked a slower step
            many = self.num_states == 2 and len(reset_steps) > steps / 4
            mode = "masked" if many and x.device.type == "cpu" else "split"
        if mode == "masked" and reset_steps:
            return self._masked(x, state, starts)
        cuts = list(range(steps)) if mode == "loop" else [0, *reset_steps]
        outputs = []
        for begin, end in zip(cuts, [*cuts[1:], steps], strict=True):
            out, state = self._run(x[begin:end], self.reset_where(state, starts[begin]))
            outputs.append(out)
        return torch.cat(outputs) if len(outputs) > 1 else outputs[0], state

    def _masked(
        self, x: torch.Tensor, state: State, starts: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """:class:`MaskedLSTMFunction` layer by layer (LSTM only)."""
        keep = (~starts).to(x.dtype).unsqueeze(-1)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = (
                getattr(self.rnn, f"{name}_l{layer}")
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            )
            h0, c0 = state[0][:, layer], state[1][:, layer]
            x, h, c = MaskedLSTMFunction.apply(x, h0, c0, keep, w_ih, w_hh, b_ih + b_hh)
            h_n.append(h)
            c_n.append(c)
        return x, (torch.stack(h_n, dim=1), torch.stack(c_n, dim=1))


class LSTMEncoder(_FusedRecurrentEncoder):
    """LSTM (Hochreiter & Schmidhuber 1997) state encoder on ``nn.LSTM``.

    Args:
        input_dim: observation size ``F``.
        hidden_size: ``H`` = ``features_dim``.
        num_layers: stacked layers.
        reset_mode: how resets inside a sequence are run: ``"masked"`` (hand-written
            BPTT, :mod:`~stateful_rl.encoders.masked_lstm`), ``"split"`` (one fused call per
            reset-free segment), ``"loop"`` (one call per step, the reference) or
            ``"auto"``: split, except masked on CPU when more than a quarter of the steps
            hold an episode start.
    """

    rnn_class = nn.LSTM
    num_states = 2

    @torch.no_grad()
    def _init_biases(self) -> None:
        """Forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al. 2015): with torch's
        default (≈ 0) the forget gate starts near 0.5 and gradients vanish as 0.5^lag."""
        hidden = self.features_dim
        for layer in range(self.num_layers):
            getattr(self.rnn, f"bias_ih_l{layer}")[hidden : 2 * hidden] = 1.0
            getattr(self.rnn, f"bias_hh_l{layer}")[hidden : 2 * hidden] = 0.0


class GRUEncoder(_FusedRecurrentEncoder):
    """GRU (Cho et al. 2014) state encoder on ``nn.GRU``; arguments as :class:`LSTMEncoder`
    (``reset_mode``: ``"split"``, ``"loop"`` or ``"auto"`` = split)."""

    rnn_class = nn.GRU
    num_states = 1
