"""LSTM and GRU encoders on torch's fused kernels (cuDNN on GPU, ATen on CPU), with exact
state resets inside a sequence.

A reset-free batch is one ``nn.LSTM``/``nn.GRU`` call. With resets, the default
``reset_mode="split"`` cuts the batch at the steps where any sequence starts an episode and
runs one fused call per reset-free segment, zeroing the state of the sequences that start
there. ``reset_mode="loop"`` is the reference: one call per step (kept to measure and test
against). Measured here (CPU, 1 thread, T=80, B=32, H=128, forward+backward, ratio to a
plain reset-free ``nn.LSTM`` call): split 1.4× with 16 distinct reset steps, 1.9× with 35,
2.5× with 63; a masked Python step loop 3.4×; packing the reset-free pieces as one
``PackedSequence`` 4× (ATen's CPU kernel is slow on packed input).
"""

from __future__ import annotations

from typing import Literal

import torch
from stateful_rl.encoders.base import State, StateEncoder
from torch import nn

ResetMode = Literal["split", "loop"]


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
        reset_mode: ResetMode = "split",
    ) -> None:
        super().__init__()
        if input_dim < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError(
                f"input_dim, hidden_size and num_layers must be >= 1, got "
                f"{input_dim}, {hidden_size}, {num_layers}"
            )
        if reset_mode not in ("split", "loop"):
            raise ValueError(f"reset_mode must be 'split' or 'loop', got {reset_mode!r}")
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
        if self.reset_mode == "loop":
            cuts = list(range(steps))
        else:
            cuts = [0, *(torch.nonzero(starts[1:].any(dim=1)).flatten() + 1).tolist()]
        outputs = []
        for begin, end in zip(cuts, [*cuts[1:], steps], strict=True):
            out, state = self._run(x[begin:end], self.reset_where(state, starts[begin]))
            outputs.append(out)
        return torch.cat(outputs) if len(outputs) > 1 else outputs[0], state


class LSTMEncoder(_FusedRecurrentEncoder):
    """LSTM (Hochreiter & Schmidhuber 1997) state encoder on ``nn.LSTM``.

    Args:
        input_dim: observation size ``F``.
        hidden_size: ``H`` = ``features_dim``.
        num_layers: stacked layers.
        reset_mode: ``"split"`` (one fused call per reset-free segment) or ``"loop"``.
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
    """GRU (Cho et al. 2014) state encoder on ``nn.GRU``; arguments as :class:`LSTMEncoder`."""

    rnn_class = nn.GRU
    num_states = 1
