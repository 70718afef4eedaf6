"""The connectionist salamander CPG (Ijspeert, Biol. Cybern. 84, 2001) as a state encoder.

The same network and integration as ``stateful_rl.envs.salamander.neural_cpg`` (which
documents the neuron model), in torch: the input per step is the tonic drive (left, right),
the recurrent state the neurons' membrane and adaptation states ``(ξ+, ξ−, ϑ)``, the
features their firing rates ``u``. One encoder step is one CPG step of ``dt`` seconds made
of ``substeps`` exponential-Euler substeps; at an episode start the state is the network's
``start_excitatory`` (``ξ+``; ``ξ−`` = ``ϑ`` = 0).

The encoder takes the network as arrays (``Network.as_dict()`` of the env module) so that
it does not import ``envs``. Its weights are fitted to gait targets, not trained
(``trainable`` is False, they are buffers): backpropagating through an oscillator's limit
cycle is ill-conditioned and a two-input drive is no general observation, which is why it
is not in ``encoders.factory.ENCODERS``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from stateful_rl.encoders.base import State, StateEncoder

_PER_NEURON = ("threshold", "gain", "tau_d", "tau_a", "adaptation")
_DRIVE = ("drive_excitatory", "drive_inhibitory", "start_excitatory")
_EDGES = ("source", "target", "weight", "inhibitory")


class NeuralCPGEncoder(StateEncoder):
    """Drives ``x[T, B, 2]`` (left, right) → firing rates ``u[T, B, N]`` after each step.

    Args:
        network: arrays by name: per neuron [N] ``threshold``, ``gain``, ``tau_d``,
            ``tau_a`` (s), ``adaptation``, ``drive_side`` (0 left, 1 right),
            ``drive_excitatory``, ``drive_inhibitory``, ``start_excitatory``; per synapse
            ``source``, ``target``, ``weight``, ``inhibitory``.
        dt: seconds per encoder step.
        substeps: exponential-Euler substeps per step.
        dtype: of states and constants (float64: equal to the numpy CPG to ~1e-12).
    """

    trainable = False
    # Buffers (constants of the network; per neuron [N] unless noted).
    threshold: torch.Tensor
    gain: torch.Tensor
    adaptation: torch.Tensor
    drive_excitatory: torch.Tensor
    drive_inhibitory: torch.Tensor
    start_excitatory: torch.Tensor
    decay_d: torch.Tensor
    decay_a: torch.Tensor
    drive_side: torch.Tensor
    w_exc: torch.Tensor  # [N, N]
    w_inh: torch.Tensor  # [N, N]

    def __init__(
        self,
        network: Mapping[str, np.ndarray],
        dt: float = 0.01,
        substeps: int = 2,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        missing = set(_PER_NEURON + _DRIVE + _EDGES + ("drive_side",)) - set(network)
        if missing:
            raise ValueError(f"network is missing arrays: {sorted(missing)}")
        if not dt > 0.0 or substeps < 1:
            raise ValueError(f"dt must be > 0 s and substeps >= 1, got {dt}, {substeps}")
        n = len(network["threshold"])
        self.input_dim, self.features_dim = 2, n
        self.dt, self.substeps = dt, substeps
        h = dt / substeps

        def tensor(values) -> torch.Tensor:
            return torch.as_tensor(np.asarray(values, dtype=float), dtype=dtype)

        for name in ("threshold", "gain", "adaptation", *_DRIVE):
            self.register_buffer(name, tensor(network[name]))
        self.register_buffer("decay_d", torch.exp(-h / tensor(network["tau_d"])))
        self.register_buffer("decay_a", torch.exp(-h / tensor(network["tau_a"])))
        self.register_buffer("drive_side", torch.as_tensor(np.asarray(network["drive_side"])))
        weights = torch.zeros(2, n, n, dtype=dtype)
        index = (
            torch.as_tensor(np.asarray(network["inhibitory"], dtype=np.int64)),
            torch.as_tensor(np.asarray(network["target"], dtype=np.int64)),
            torch.as_tensor(np.asarray(network["source"], dtype=np.int64)),
        )
        weights.index_put_(index, tensor(network["weight"]), accumulate=True)
        self.register_buffer("w_exc", weights[0])
        self.register_buffer("w_inh", weights[1])

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Nothing: the weights are the fitted network's, given to the constructor, not drawn
        (``generator`` is unused)."""

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """``(ξ+, ξ−, ϑ)``, each ``[B, N]``: ``ξ+`` = ``start_excitatory``, the rest 0."""
        zeros = torch.zeros(batch_size, self.features_dim, dtype=self.w_exc.dtype, device=device)
        return (zeros + self.start_excitatory.to(device), zeros.clone(), zeros.clone())

    def rates(self, state: State) -> torch.Tensor:
        """``u = max(0, 1 − exp((Θ − ξ+) Γ) − ξ− − μ ϑ)``, ``[B, N]``."""
        xi_exc, xi_inh, theta = state
        value = 1.0 - torch.exp((self.threshold - xi_exc) * self.gain) - xi_inh
        return torch.clamp(value - self.adaptation * theta, min=0.0)

    def forward(
        self, x: torch.Tensor, state: State, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """``x[T, B, 2]`` drives -> rates ``[T, B, N]`` after each step, and the last state."""
        self.check_input(x, episode_starts)
        outputs = []
        for t in range(x.shape[0]):
            state = self.reset_where(state, episode_starts[t])
            drive = x[t].to(self.w_exc.dtype)[:, self.drive_side]  # [B, N]
            drive_exc, drive_inh = drive * self.drive_excitatory, drive * self.drive_inhibitory
            xi_exc, xi_inh, theta = state
            for _ in range(self.substeps):
                u = self.rates((xi_exc, xi_inh, theta))
                sum_exc = drive_exc + u @ self.w_exc.T
                sum_inh = drive_inh + u @ self.w_inh.T
                xi_exc = sum_exc + (xi_exc - sum_exc) * self.decay_d
                xi_inh = sum_inh + (xi_inh - sum_inh) * self.decay_d
                theta = u + (theta - u) * self.decay_a
            state = (xi_exc, xi_inh, theta)
            outputs.append(self.rates(state))
        return torch.stack(outputs), state
