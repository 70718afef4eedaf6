"""The agents known by name (the command line, presets and sweeps use these names).

A name is a class plus the hyper-parameters the name fixes: ``esn-dqn`` is a
:class:`~stateful_rl.agents.RecurrentDQN` whose encoder is an echo-state reservoir. Each
entry is callable like its class (``esn_dqn(env, seed=0)``) and refuses a contradicting
value of a fixed hyper-parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from stateful_rl.agents.base import BaseAgent
from stateful_rl.agents.config import AgentConfig
from stateful_rl.agents.dqn import DQN
from stateful_rl.agents.nfq import NFQ
from stateful_rl.agents.recurrent_dqn import RecurrentDQN
from stateful_rl.agents.recurrent_nfq import RecurrentNFQ


@dataclass(frozen=True)
class NamedAgent:
    """``cls`` with the hyper-parameters ``fixed`` (see the module docstring)."""

    cls: type[BaseAgent]
    description: str
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, env: Any = None, config: Any = None, **kwargs: Any) -> BaseAgent:
        values = asdict(config) if isinstance(config, AgentConfig) else dict(config or {})
        settings = self.cls.constructor_keywords()
        values.update({k: kwargs.pop(k) for k in list(kwargs) if k not in settings})
        for key, fixed in self.fixed.items():
            given = values.get(key, fixed)
            if (list(given) if isinstance(given, tuple) else given) != fixed:
                raise ValueError(f"this agent fixes {key} = {fixed!r}, got {given!r}")
        return self.cls(env, {**values, **self.fixed}, **kwargs)


esn_dqn = NamedAgent(
    RecurrentDQN,
    "ESN-DQN: a frozen echo-state reservoir feeding a trained Q-head (Szita et al. 2006)",
    {"encoder": "esn"},
)
esn_nfq = NamedAgent(
    RecurrentNFQ,
    "ESN-NFQ: a frozen echo-state reservoir with a linear Q-head solved in closed form",
    {"encoder": "esn", "net_arch": []},
)
AGENTS: dict[str, NamedAgent] = {
    "dqn": NamedAgent(DQN, "DQN and Double DQN (Mnih et al. 2015; van Hasselt et al. 2016)"),
    "recurrent-dqn": NamedAgent(
        RecurrentDQN, "recurrent DQN with stored states and burn-in (R2D2), any encoder"
    ),
    "esn-dqn": esn_dqn,
    "nfq": NamedAgent(NFQ, "Neural Fitted Q iteration (Riedmiller 2005)"),
    "recurrent-nfq": NamedAgent(RecurrentNFQ, "NFQ over whole episodes with any encoder"),
    "esn-nfq": esn_nfq,
}
