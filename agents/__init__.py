"""Value-based agents: NFQ and the DQN family, feed-forward and recurrent.

Importing this package registers the ``stateful_rl/...`` environment ids too, so that
``DQN("stateful_rl/OccludedCatch-v0")`` and ``gym.make_vec("stateful_rl/...")`` work after
``from stateful_rl.agents import ...`` alone. ``AGENTS`` maps the command line's agent names
to :class:`~stateful_rl.agents.registry.NamedAgent` entries.
"""

import stateful_rl.envs  # noqa: F401  (registers the environment ids)
from stateful_rl.agents.base import BaseAgent
from stateful_rl.agents.config import AgentConfig
from stateful_rl.agents.dqn import DQN, DQNConfig
from stateful_rl.agents.nfq import NFQ, NFQConfig
from stateful_rl.agents.policies import RecurrentQNetwork
from stateful_rl.agents.recurrent_dqn import RecurrentDQN, RecurrentDQNConfig
from stateful_rl.agents.recurrent_nfq import RecurrentNFQ, RecurrentNFQConfig
from stateful_rl.agents.registry import AGENTS, NamedAgent, esn_dqn, esn_nfq
from stateful_rl.agents.replay import ReplayBuffer, SequenceBatch, TransitionBatch

__all__ = [
    "AGENTS",
    "DQN",
    "NFQ",
    "AgentConfig",
    "BaseAgent",
    "DQNConfig",
    "NFQConfig",
    "NamedAgent",
    "RecurrentDQN",
    "RecurrentDQNConfig",
    "RecurrentNFQ",
    "RecurrentNFQConfig",
    "RecurrentQNetwork",
    "ReplayBuffer",
    "SequenceBatch",
    "TransitionBatch",
    "esn_dqn",
    "esn_nfq",
]
