"""The connectionist CPG as a torch state encoder equals the env's numpy network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stateful_rl.encoders.factory import ENCODERS
from stateful_rl.encoders.neural_cpg import NeuralCPGEncoder
from stateful_rl.envs.salamander.neural_cpg import N_NEURONS, NeuralSalamanderCPG

DRIVES = np.array([[4.0, 4.0], [2.0, 2.5], [4.5, 3.5]])


def encoder_and_cpg() -> tuple[NeuralCPGEncoder, NeuralSalamanderCPG]:
    cpg = NeuralSalamanderCPG(n=len(DRIVES))
    return NeuralCPGEncoder(cpg.network.as_dict(), dt=cpg.dt, substeps=cpg.substeps), cpg


def test_encoder_equals_the_numpy_cpg_over_a_sequence():
    encoder, cpg = encoder_and_cpg()
    cpg.set_drive(DRIVES[:, 0], DRIVES[:, 1])
    u, theta = cpg.advance(400)
    x = torch.as_tensor(DRIVES).expand(400, -1, -1)
    starts = torch.zeros(400, len(DRIVES), dtype=torch.bool)
    features, (xi_exc, xi_inh, adaptation) = encoder(x, encoder.initial_state(3), starts)
    assert features.shape == (400, 3, N_NEURONS) and features.dtype == torch.float64
    np.testing.assert_allclose(features.numpy(), u, rtol=0, atol=1e-10)
    np.testing.assert_allclose(xi_exc.numpy(), cpg.xi_exc, rtol=0, atol=1e-10)
    np.testing.assert_allclose(xi_inh.numpy(), cpg.xi_inh, rtol=0, atol=1e-10)
    np.testing.assert_allclose(adaptation.numpy(), theta[-1], rtol=0, atol=1e-10)
    assert np.ptp(u[200:, 0]) > 0.3  # it oscillates: the comparison is not of silence


def test_episode_start_resets_to_the_numpy_start_state_and_step_matches_forward():
    encoder, cpg = encoder_and_cpg()
    x = torch.as_tensor(DRIVES).expand(60, -1, -1).clone()
    starts = torch.zeros(60, 3, dtype=torch.bool)
    starts[30, 1] = True  # sequence 1 restarts at step 30
    features, _ = encoder(x, encoder.initial_state(3), starts)
    cpg.set_drive(DRIVES[:, 0], DRIVES[:, 1])
    u, _ = cpg.advance(30)
    cpg.reset()  # every animal back to the start state; compare sequence 1 only
    restarted, _ = cpg.advance(30)
    np.testing.assert_allclose(features[:30].numpy(), u, atol=1e-10)
    np.testing.assert_allclose(features[30:, 1].numpy(), restarted[:, 1], atol=1e-10)
    state = encoder.initial_state(3)
    for t in range(60):
        step_features, state = encoder.step(x[t], state, starts[t])
        np.testing.assert_array_equal(step_features.numpy(), features[t].numpy())


def test_encoder_is_fixed_and_outside_the_factory():
    encoder, _ = encoder_and_cpg()
    assert not encoder.trainable and not list(encoder.parameters())
    assert NeuralCPGEncoder not in ENCODERS.values()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    encoder.reset_parameters()  # the fitted network stays as it is
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_bad_network_and_input_raise():
    encoder, cpg = encoder_and_cpg()
    arrays = cpg.network.as_dict()
    del arrays["weight"]
    with pytest.raises(ValueError, match="weight"):
        NeuralCPGEncoder(arrays)
    with pytest.raises(ValueError, match="dt"):
        NeuralCPGEncoder(cpg.network.as_dict(), dt=0.0)
    with pytest.raises(ValueError, match="expects x"):
        encoder(torch.zeros(5, 2, 3), encoder.initial_state(2), torch.zeros(5, 2, dtype=bool))
