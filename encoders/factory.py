"""Build an encoder by name: ``make_encoder("lstm", input_dim, hidden_size=64)``."""

from __future__ import annotations

from typing import Any

from stateful_rl.encoders.base import StateEncoder
from stateful_rl.encoders.echo_state import EchoStateEncoder
from stateful_rl.encoders.elman import ElmanEncoder
from stateful_rl.encoders.feedforward import FeedForwardEncoder, FrameStackEncoder
from stateful_rl.encoders.recurrent import GRUEncoder, LSTMEncoder

ENCODERS: dict[str, type[StateEncoder]] = {
    "lstm": LSTMEncoder,
    "gru": GRUEncoder,
    "elman": ElmanEncoder,
    "esn": EchoStateEncoder,
    "feedforward": FeedForwardEncoder,
    "framestack": FrameStackEncoder,
}


def make_encoder(name: str, input_dim: int, **kwargs: Any) -> StateEncoder:
    """The encoder registered as ``name`` (see :data:`ENCODERS`), built with ``kwargs``."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; allowed names: {', '.join(ENCODERS)}")
    return ENCODERS[name](input_dim, **kwargs)
