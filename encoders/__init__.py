"""Recurrent state encoders with one interface (torch)."""

from stateful_rl.encoders.base import State, StateEncoder
from stateful_rl.encoders.echo_state import EchoStateEncoder, echo_state_property, spectral_radius
from stateful_rl.encoders.elman import ElmanEncoder
from stateful_rl.encoders.factory import ENCODERS, make_encoder
from stateful_rl.encoders.feedforward import FeedForwardEncoder, FrameStackEncoder
from stateful_rl.encoders.recurrent import GRUEncoder, LSTMEncoder

__all__ = [
    "ENCODERS",
    "EchoStateEncoder",
    "ElmanEncoder",
    "FeedForwardEncoder",
    "FrameStackEncoder",
    "GRUEncoder",
    "LSTMEncoder",
    "State",
    "StateEncoder",
    "echo_state_property",
    "make_encoder",
    "spectral_radius",
]
