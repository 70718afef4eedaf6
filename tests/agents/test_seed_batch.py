"""Seeds trained together (one batched update per step) equal the same seeds trained alone,
bit for bit on CPU: parameters, optimiser state, actions, evaluations; bad input; errors."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.adapters import fallback_forced
from stateful_rl.agents import DQN, NFQ, RecurrentDQN, esn_dqn
from stateful_rl.agents.dqn import q_head
from stateful_rl.agents.optim import ClippedAdam, StackedClippedAdam
from stateful_rl.agents.seed_batch import check_seeds, run_together, train_seeds
from stateful_rl.encoders.feedforward import StackedMLP

# Seeds train together only with the direct fused Adam kernel (its fallback steps one seed).
needs_stacked_kernel = pytest.mark.skipif(fallback_forced(), reason="fallbacks forced")

torch.set_num_threads(1)

# train_freq/gradient_steps as rl-zoo's CartPole (few long phases), smaller
DQN_FAST = {"learning_starts": 200, "buffer_size": 5000, "train_freq": 64, "gradient_steps": 16,
            "target_update_interval": 10, "net_arch": (64, 64), "batch_size": 32,
            "learning_rate": 2e-3, "eval_freq": 500, "n_eval_episodes": 2}  # fmt: skip
RECURRENT_FAST = {"learning_starts": 200, "buffer_size": 5000, "train_freq": 8,
                  "target_update_interval": 100, "batch_size": 8, "sequence_length": 12,
                  "sequence_stride": 4, "burn_in": 2, "encoder_kwargs": {"units": 40}}  # fmt: skip
CASES = {  # name: (make_agent(seed), env steps)
    "dqn": (lambda seed: DQN("CartPole-v1", seed=seed, device="cpu", **DQN_FAST), 2000),
    "double-dqn-mse-clipped": (
        lambda seed: DQN(
            "CartPole-v1",
            seed=seed,
            device="cpu",
            **DQN_FAST,
            double=True,
            loss="mse",
            max_grad_norm=0.5,
        ),
        2000,
    ),
    "dqn-normalized-unaligned": (  # 9 rows x 2 features: slices not 16-byte aligned
        lambda seed: DQN(
            "MountainCar-v0",
            seed=seed,
            device="cpu",
            **{**DQN_FAST, "batch_size": 9},
            normalize_obs=True,
        ),
        1500,
    ),
    "esn-dqn": (
        lambda seed: esn_dqn(
            "stateful_rl/CartPoleNoVel-v0",
            seed=seed,
            device="cpu",
            **RECURRENT_FAST,
            readout_input=True,
        ),
        1500,
    ),
    "nfq": (
        lambda seed: NFQ(
            "CartPole-v1",
            seed=seed,
            device="cpu",
            objective="reward",
            epochs=40,
            eval_freq=1,
            n_eval_episodes=2,
        ),
        800,
    ),
}


def trained_modules(agent) -> list[torch.Tensor]:
    return [t for m in agent._modules().values() for t in m.state_dict().values()]


def actions(agent) -> np.ndarray:
    return agent._action_log.actions[: agent._action_log.length]


def assert_same_run(alone, together) -> None:
    """Bitwise equal weights, optimiser state, actions, updates and evaluations."""
    for a, b in zip(trained_modules(alone), trained_modules(together), strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(actions(alone), actions(together))
    assert alone._n_updates == together._n_updates > 0
    assert alone.eval_history == together.eval_history
    if hasattr(alone, "optimizer"):
        mine, theirs = alone.optimizer.state_dict(), together.optimizer.state_dict()
        for key, state in mine["state"].items():
            for name, value in state.items():
                assert torch.equal(value, theirs["state"][key][name]), name


@needs_stacked_kernel
@pytest.mark.parametrize("name", list(CASES))
def test_seeds_trained_together_equal_seeds_trained_alone(name):
    make_agent, steps = CASES[name]
    seeds = [0, 1, 2]
    together = train_seeds(make_agent, seeds, steps)
    for seed, agent in zip(seeds, together, strict=True):
        alone = make_agent(seed)
        alone.learn(steps)
        assert_same_run(alone, agent)


@pytest.mark.slow
def test_rl_zoo_cartpole_seeds_together_equal_alone_over_10000_steps():
    """rl-baselines3-zoo's CartPole DQN: 8 seeds together, ~4500 updates each."""
    zoo = {"learning_rate": 2.3e-3, "batch_size": 64, "buffer_size": 100_000,
           "learning_starts": 1000, "gamma": 0.99, "target_update_interval": 10,
           "train_freq": 256, "gradient_steps": 128, "exploration_fraction": 0.16,
           "exploration_final_eps": 0.04, "net_arch": (256, 256)}  # fmt: skip

    def make(seed):
        return DQN("CartPole-v1", seed=seed, device="cpu", **zoo)

    seeds = list(range(8))
    together = train_seeds(make, seeds, 10_000)
    for seed in (0, 7):
        alone = make(seed)
        alone.learn(10_000)
        assert len(actions(alone)) >= 10_000
        assert_same_run(alone, together[seed])


@needs_stacked_kernel
def test_trained_seed_saves_and_loads_as_an_ordinary_agent(tmp_path):
    make_agent, steps = CASES["dqn"]
    agents = train_seeds(make_agent, [4, 5], steps)
    obs = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    for agent in agents:
        agent.save(tmp_path / f"seed{agent.seed}")
        loaded = DQN.load(tmp_path / f"seed{agent.seed}.zip")
        np.testing.assert_array_equal(loaded.predict(obs)[0], agent.predict(obs)[0])
        state = tmp_path / f"state{agent.seed}.pt"
        agent.save_training_state(state)
        resumed = DQN.load_training_state(state, "CartPole-v1", device="cpu")
        assert resumed.num_timesteps == agent.num_timesteps


def test_a_batch_checkpoint_resumes_alone_as_the_uninterrupted_run(tmp_path):
    make_agent, _ = CASES["dqn"]
    alone = make_agent(1)
    alone.learn(2000)
    paths = {seed: tmp_path / f"seed{seed}.pt" for seed in (0, 1)}

    def crash(local_vars, _) -> bool:
        agent = local_vars["self"]
        if agent.seed == 1 and agent.num_timesteps >= 1500:
            raise KeyboardInterrupt  # stands for a killed process
        return True

    agents = [make_agent(seed) for seed in (0, 1)]
    tasks = [
        lambda a=a: a.learn(
            2000, callback=crash, checkpoint_freq=500, checkpoint_path=paths[a.seed]
        )
        for a in agents
    ]
    with pytest.raises(KeyboardInterrupt):
        run_together(tasks)
    assert agents[0].num_timesteps == 2000  # the other seed ran to its end
    resumed = DQN.load_training_state(paths[1], "CartPole-v1", device="cpu")
    resumed.learn(resumed.remaining_timesteps, reset_num_timesteps=False)
    assert_same_run(alone, resumed)


@pytest.mark.parametrize(
    ("inputs", "rows"),
    [(6, 51), (3, 2)],  # seeds' slices not 16-byte aligned; products under bmm's MKL size
)
def test_stacked_mlp_equals_each_net_forward_and_backward(inputs, rows):
    torch.manual_seed(0)
    nets = [q_head(inputs, (5, 24), 5) for _ in range(3)]
    stacked = StackedMLP(nets)
    x = torch.randn(3, rows, inputs)
    grad = torch.randn(3, rows, 5)
    out = stacked.forward_train(x)
    stacked.backward(grad)
    for s, net in enumerate(nets):
        mine = net(x[s].clone())  # a seed's own inputs are fresh (aligned) tensors
        assert torch.equal(out[s], mine.detach())
        mine.backward(grad[s])
        for own, shared in zip(net.parameters(), stacked.parameters(), strict=True):
            assert torch.equal(own.grad, shared.grad[s])
    with pytest.raises(ValueError, match="one architecture"):
        StackedMLP([q_head(3, (16,), 5), q_head(3, (8,), 5)])
    with pytest.raises(ValueError, match="Linear layers"):
        StackedMLP([nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))])


def test_stacked_adam_clips_each_seed_by_its_own_norm():
    torch.manual_seed(0)
    nets = [q_head(4, (32,), 3) for _ in range(3)]
    mine = copy.deepcopy(nets)
    optimizers = [ClippedAdam(n.parameters(), 1e-2, max_norm=1.0) for n in nets]
    own = [ClippedAdam(n.parameters(), 1e-2, max_norm=1.0) for n in mine]
    scales = [1e-3, 1e3, 1.0]  # seed 0 unclipped, seed 1 clipped hard
    for _ in range(4):
        x = torch.randn(3, 16, 4)
        stacked = StackedMLP(nets)
        adam = StackedClippedAdam(optimizers, list(stacked.parameters()))
        out = stacked.forward_train(x).detach().requires_grad_()
        torch.stack([s * out[i].square().mean() for i, s in enumerate(scales)]).sum().backward()
        stacked.backward(out.grad)
        adam.clip_and_step()
        stacked.write_back()
        adam.write_back()
        for s, (net, opt) in enumerate(zip(mine, own, strict=True)):
            net.zero_grad(set_to_none=True)
            (scales[s] * net(x[s].clone()).square().mean()).backward()
            opt.clip_and_step()
    for net, alone in zip(nets, mine, strict=True):
        for a, b in zip(net.parameters(), alone.parameters(), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("seeds", "match"),
    [([], "at least one seed"), ([0, 1, 0], r"distinct, got \[0\]"), ([0, 1.5], "ints")],
)
def test_bad_seeds_are_refused(seeds, match):
    with pytest.raises(ValueError, match=match):
        check_seeds(seeds)
    with pytest.raises(ValueError, match=match):
        train_seeds(lambda seed: DQN("CartPole-v1", seed=seed), seeds, 10)


@needs_stacked_kernel
def test_agents_that_cannot_train_together_are_refused_before_training():
    env = gym.make("CartPole-v1")
    with pytest.raises(ValueError, match="each seed needs its own env"):
        train_seeds(lambda seed: DQN(env, seed=seed), [0, 1], 10)
    with pytest.raises(ValueError, match=r"RecurrentDQN cannot train seeds together.*gru"):
        train_seeds(lambda s: RecurrentDQN("CartPole-v1", encoder="gru", seed=s), [0, 1], 10)
    with pytest.raises(ValueError, match="returned an agent with seed 0"):
        train_seeds(lambda seed: DQN("CartPole-v1", seed=0), [0, 1], 10)
    with pytest.raises(ValueError, match=r"same .*best_model_path"):
        train_seeds(lambda seed: DQN("CartPole-v1", seed=seed), [0, 1], 10, best_model_path="m")
    with pytest.raises(RuntimeError, match="nested"):
        run_together([lambda: run_together([lambda: None])])


@needs_stacked_kernel
def test_a_failing_seed_stops_alone_and_its_error_is_raised_at_the_end():
    make_agent, steps = CASES["dqn"]
    agents = [make_agent(seed) for seed in (0, 1)]
    original = agents[1]._td_loss

    def diverging(q, target, mask=None, stacked=False):
        loss = original(q, target, mask, stacked)
        return loss * torch.tensor([1.0, float("nan")])[: len(loss)] if stacked else loss

    agents[0]._td_loss = diverging  # the batch computes with the first seed's loss
    with pytest.raises(FloatingPointError, match="DQN: loss became nan"):
        run_together([lambda a=a: a.learn(steps) for a in agents])
    assert agents[0].num_timesteps == steps  # seed 0 ran to its end
    assert agents[1].num_timesteps < steps


def test_generators_are_each_tasks_own():
    def draws() -> list[float]:
        out = []
        for _ in range(3):
            out.append(float(torch.rand(())))
            out.append(float(np.random.random()))  # noqa: NPY002
        return out

    torch.manual_seed(5)
    np.random.seed(5)  # noqa: NPY002
    alone = draws()
    torch.manual_seed(5)
    np.random.seed(5)  # noqa: NPY002
    assert run_together([draws, draws]) == [alone, alone]


def test_run_together_returns_values_and_reports_rounds():
    rounds = []
    values = run_together([lambda: 1, lambda: 2], progress=lambda: rounds.append(1))
    assert values == [1, 2] and rounds == [1]


def test_hand_over_groups_by_key_in_task_order():
    from stateful_rl.agents.seed_batch import current_seat

    calls = []

    def compute(payloads):
        calls.append(list(payloads))
        return [p * 10 for p in payloads]

    def task(value, key):
        return current_seat().hand_over(compute, key, value)

    values = run_together([lambda: task(1, "a"), lambda: task(2, "b"), lambda: task(3, "a")])
    assert values == [10, 20, 30]
    assert calls == [[1, 3], [2]]


def test_fits_together_equal_rprop_fits_alone():
    torch.manual_seed(0)
    from stateful_rl.agents.nfq import QNetwork, rprop_fit

    work = []
    for rows in (19, 52, 105):  # row counts that group a product's terms differently
        net = QNetwork(4, 2, (5, 5), "sigmoid", True)
        obs, acts, targets = torch.randn(rows, 4), torch.randint(0, 2, (rows,)), torch.randn(rows)
        work.append((net, obs, acts, targets, 60, 0.01))
    alone = []
    for net, obs, acts, targets, epochs, step in work:
        copy_ = copy.deepcopy(net)
        loss = rprop_fit(list(copy_.parameters()), lambda n=copy_, o=obs, a=acts, t=targets:
                         F.mse_loss(n(o, a), t), epochs, step)  # fmt: skip
        alone.append((copy_, loss))
    losses = NFQ._fits_together(work)
    for (copy_, loss), mine, (net, *_) in zip(alone, losses, work, strict=True):
        assert loss == mine
        for a, b in zip(copy_.parameters(), net.parameters(), strict=True):
            assert torch.equal(a, b)


def test_without_the_direct_kernel_seed_batches_are_refused_by_name(monkeypatch):
    """The stacked step calls the fused kernel itself: with the public fallback forced, a
    seed batch is refused with the reason (the command line then trains seeds in turn)."""
    from stateful_rl.adapters import FORCE_FALLBACK_VARIABLE, forget_fast_paths

    monkeypatch.setenv(FORCE_FALLBACK_VARIABLE, "1")
    forget_fast_paths()
    try:
        with pytest.raises(ValueError, match="direct fused Adam kernel is off"):
            train_seeds(lambda seed: DQN("CartPole-v1", seed=seed), [0, 1], 10)
    finally:
        monkeypatch.delenv(FORCE_FALLBACK_VARIABLE)
        forget_fast_paths()
