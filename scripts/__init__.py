"""stateful-rl: reinforcement learning under partial observability.

Subpackages: :mod:`stateful_rl.envs` (Gymnasium environments, no torch at import),
:mod:`stateful_rl.encoders` (recurrent state encoders), :mod:`stateful_rl.agents`
(NFQ and the DQN family).
"""

__version__ = "0.1.0"
