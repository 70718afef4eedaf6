"""Training states: tensors and plain data only, and a resume equal to the uninterrupted run."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import stateful_rl.envs  # noqa: F401
from stateful_rl.agents import DQN, NFQ, RecurrentDQN, RecurrentNFQ, esn_dqn
from stateful_rl.agents.persistence import UnsafeFileError, check_archive

FAST = {"learning_starts": 50, "buffer_size": 2000, "train_freq": 4, "eval_freq": 100}
RECURRENT = {**FAST, "batch_size": 8, "sequence_length": 12, "sequence_stride": 4, "burn_in": 2}
NFQ_FAST = {"epochs": 5, "eval_freq": 100, "n_eval_episodes": 2}
CASES = {  # name: (agent factory, env factory)
    "dqn": (lambda env: DQN(env, **FAST, net_arch=(16,), seed=3), lambda: "CartPole-v1"),
    "gru-vector": (
        lambda env: RecurrentDQN(env, **RECURRENT, encoder="gru", seed=3),
        lambda: gym.make_vec("stateful_rl/OccludedCatch-v0", 3),
    ),
    "esn": (
        lambda env: esn_dqn(env, **RECURRENT, encoder_kwargs={"units": 30}, seed=3),
        lambda: "stateful_rl/CartPoleNoVel-v0",
    ),
    "nfq-warm": (
        lambda env: NFQ(env, **NFQ_FAST, refit=False, seed=3),
        lambda: "CartPole-v1",
    ),
    "recurrent-nfq": (
        lambda env: RecurrentNFQ(env, **NFQ_FAST, encoder="gru", seed=3),
        lambda: "stateful_rl/CartPoleNoVel-v0",
    ),
}


def parameters(agent) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v for n, m in agent._modules().items() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("name", list(CASES))
def test_resumed_training_equals_uninterrupted(name, tmp_path):
    make_agent, make_env = CASES[name]
    whole = make_agent(make_env())
    whole.learn(400)

    path = tmp_path / "state.pt"

    def crash(local_vars, global_vars) -> bool:
        if local_vars["self"].num_timesteps >= 300:
            raise KeyboardInterrupt  # stands for a killed process
        return True

    part = make_agent(make_env())
    with pytest.raises(KeyboardInterrupt):
        part.learn(400, callback=crash, checkpoint_freq=200, checkpoint_path=path)
    del part
    resumed = type(whole).load_training_state(path, make_env())
    assert 200 <= resumed.num_timesteps < 300 and resumed.remaining_timesteps > 0
    resumed.learn(resumed.remaining_timesteps, reset_num_timesteps=False)

    assert resumed.num_timesteps == whole.num_timesteps
    assert resumed.eval_history == whole.eval_history
    for key, value in parameters(whole).items():
        assert torch.equal(value, parameters(resumed)[key]), key


def test_training_state_is_plain_tensors(tmp_path):
    agent = DQN("CartPole-v1", **FAST, seed=0)
    agent.learn(120)
    agent.save_training_state(tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)  # nothing to unpickle
    assert state["format"] == "stateful_rl.training_state"
    assert "env" not in state["attributes"]


def test_another_env_is_detected_on_resume(tmp_path):
    agent = DQN("CartPole-v1", **FAST, seed=0)
    agent.learn(120)
    agent.save_training_state(tmp_path / "state.pt")
    env = gym.make("CartPole-v1", sutton_barto_reward=True)  # same spaces, other trajectory
    env = gym.wrappers.TransformObservation(env, lambda o: o * 1.0001, env.observation_space)
    with pytest.raises(ValueError, match="did not come back to the saved observation"):
        DQN.load_training_state(tmp_path / "state.pt", env)


def test_checkpoints_without_a_path_are_refused_before_training():
    agent = DQN("CartPole-v1", **FAST, seed=0)
    with pytest.raises(ValueError, match="checkpoint_path must be given"):
        agent.learn(400, checkpoint_freq=100)
    assert agent.num_timesteps == 0


class Payload:
    """Unpickling it would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "state.pt"
    torch.save({"format": "stateful_rl.training_state", "payload": Payload(marker)}, path)
    with pytest.raises(UnsafeFileError, match="refusing to unpickle"):
        DQN.load_training_state(path, "CartPole-v1")
    assert not marker.exists()
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(Payload(marker)))  # not even a zip
    with pytest.raises(UnsafeFileError):
        DQN.load_training_state(raw, "CartPole-v1")
    assert not marker.exists()


def test_zip_bomb_is_refused_before_expanding(tmp_path):
    bomb = tmp_path / "model.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "{}")
        with zf.open("weights.pt", "w", force_zip64=True) as member:
            block = bytes(2**20)
            for _ in range(300):  # 300 MiB of zeros, ~0.3 MiB compressed
                member.write(block)
    assert bomb.stat().st_size < 2**21
    with pytest.raises(UnsafeFileError, match="zip bomb"):
        DQN.load(bomb)
    with pytest.raises(UnsafeFileError, match="GiB allowed"):
        check_archive(bomb, "model", max_bytes=2**28)


def test_load_refuses_foreign_members_formats_and_non_finite_weights(tmp_path):
    agent = DQN("CartPole-v1", net_arch=(8,), seed=0)
    agent.save(tmp_path / "good.zip")
    with zipfile.ZipFile(tmp_path / "good.zip") as zf:
        config, weights = zf.read("config.json"), zf.read("weights.pt")

    def write(name: str, members: dict[str, bytes]) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zf:
            for member, data in members.items():
                zf.writestr(member, data)
        return path

    extra = write("extra.zip", {"config.json": config, "weights.pt": weights, "x.py": b""})
    with pytest.raises(UnsafeFileError, match="holds"):
        DQN.load(extra)
    config_999 = config.replace(b'"format_version": 1', b'"format_version": 999')
    future = write("v999.zip", {"config.json": config_999, "weights.pt": weights})
    with pytest.raises(ValueError, match="format 999"):
        DQN.load(future)
    state = torch.load(io.BytesIO(weights), weights_only=True)
    for tensor in state["modules"]["q_net"].values():
        tensor.fill_(float("nan"))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    nan = write("nan.zip", {"config.json": config, "weights.pt": buffer.getvalue()})
    with pytest.raises(ValueError, match="non-finite"):
        DQN.load(nan)
    assert np.isfinite(DQN.load(tmp_path / "good.zip").predict(np.zeros(4))[0])
