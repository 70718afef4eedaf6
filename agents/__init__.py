"""Value-based agents: NFQ and the DQN family, feed-forward and recurrent.

``AGENTS`` maps the CLI names to constructors ``f(env, **kwargs) -> agent``.
"""

from collections.abc import Callable

from stateful_rl.agents.base import AgentConfig, BaseAgent
from stateful_rl.agents.dqn import DQN, DQNConfig
from stateful_rl.agents.nfq import NFQ, NFQConfig
from stateful_rl.agents.recurrent_dqn import RecurrentDQN, RecurrentDQNConfig, esn_dqn
from stateful_rl.agents.recurrent_nfq import RecurrentNFQ, RecurrentNFQConfig, esn_nfq
from stateful_rl.agents.replay import ReplayBuffer, SequenceBatch, TransitionBatch

AGENTS: dict[str, Callable[..., BaseAgent]] = {
    "dqn": DQN,
    "recurrent-dqn": RecurrentDQN,
    "esn-dqn": esn_dqn,
    "nfq": NFQ,
    "recurrent-nfq": RecurrentNFQ,
    "esn-nfq": esn_nfq,
}

__all__ = [
    "AGENTS",
    "DQN",
    "NFQ",
    "AgentConfig",
    "BaseAgent",
    "DQNConfig",
    "NFQConfig",
    "RecurrentDQN",
    "RecurrentDQNConfig",
    "RecurrentNFQ",
    "RecurrentNFQConfig",
    "ReplayBuffer",
    "SequenceBatch",
    "TransitionBatch",
    "esn_dqn",
    "esn_nfq",
]
