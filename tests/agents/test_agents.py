"""DQN / RecurrentDQN / ESN-DQN API: construction errors, predict, save/load, evaluation,
vector envs, callbacks, logging, NaN stop and seeding (fast, fixed seeds)."""

import copy
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv

import stateful_rl.envs  # noqa: F401
from stateful_rl.agents import DQN, DQNConfig, RecurrentDQN, esn_dqn
from stateful_rl.agents.base import multiples_crossed

torch.set_num_threads(1)  # several threads on busy cores are far slower for small nets

FAST = {"learning_starts": 100, "buffer_size": 2000, "train_freq": 4, "target_update_interval": 100}
RECURRENT_FAST = {
    **FAST,
    "batch_size": 8,
    "sequence_length": 12,
    "sequence_stride": 4,
    "burn_in": 2,
}

SMALL = {"encoder_kwargs": {"hidden_size": 16}}
AGENTS = {
    "dqn": lambda env, **kw: DQN(env, **FAST, net_arch=(32,), normalize_obs=True, **kw),
    "lstm": lambda env, **kw: RecurrentDQN(env, **RECURRENT_FAST, **SMALL, **kw),
    "gru": lambda env, **kw: RecurrentDQN(env, **RECURRENT_FAST, **SMALL, encoder="gru", **kw),
    "esn": lambda env, **kw: esn_dqn(env, **RECURRENT_FAST, encoder_kwargs={"units": 50}, **kw),
    "esn-readout-input": lambda env, **kw: esn_dqn(
        env, **RECURRENT_FAST, encoder_kwargs={"units": 50}, readout_input=True, **kw),
}  # fmt: skip


def dense(t: torch.Tensor) -> torch.Tensor:
    """``t`` as a strided tensor (the echo-state reservoir is stored sparse)."""
    return t.to_dense() if t.is_sparse_csr else t


def rollout(agent, obs_batch: np.ndarray, steps: int = 10) -> list[np.ndarray]:
    """Actions of ``predict`` over ``steps`` steps of fixed observations (state carried)."""
    state, start, actions = None, np.ones(len(obs_batch), bool), []
    for t in range(steps):
        action, state = agent.predict(obs_batch * (1 + 0.1 * t), state, start)
        actions.append(action)
        start = np.zeros(len(obs_batch), bool)
    return actions


def test_non_discrete_action_space_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"Discrete action space, got Box"):
        DQN("Pendulum-v1")


def test_signature_lists_the_hyper_parameters():
    import inspect

    parameters = inspect.signature(RecurrentDQN).parameters
    assert parameters["burn_in"].default == 10 and parameters["gamma"].default == 0.99
    assert parameters["seed"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "learning_rate" in inspect.signature(DQN).parameters
    assert "burn_in" not in inspect.signature(DQN).parameters


def test_learn_runs_with_one_thread_and_restores_the_setting(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.delenv("TORCH_NUM_THREADS", raising=False)
    seen = []
    torch.set_num_threads(2)
    try:
        DQN("CartPole-v1", **FAST).learn(
            20, callback=lambda *_: seen.append(torch.get_num_threads()) or True
        )
        assert set(seen) == {1} and torch.get_num_threads() == 2
        seen.clear()
        DQN("CartPole-v1", **FAST, threads=None).learn(
            20, callback=lambda *_: seen.append(torch.get_num_threads()) or True
        )
        assert set(seen) == {2}
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        seen.clear()
        DQN("CartPole-v1", **FAST).learn(
            20, callback=lambda *_: seen.append(torch.get_num_threads()) or True
        )
        assert set(seen) == {2}
    finally:
        torch.set_num_threads(1)


def test_agents_register_the_environment_ids_on_import():
    import subprocess
    import sys

    code = (
        "import gymnasium as gym\nfrom stateful_rl.agents import RecurrentDQN\n"
        "gym.make_vec('stateful_rl/CartPoleNoVel-v0', 2)\n"
        "RecurrentDQN('stateful_rl/CartPoleNoVel-v0', encoder='gru')\nprint('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match=r"unknown DQNConfig key.*learnig_rate.*allowed"):
        DQN("CartPole-v1", learnig_rate=1e-3)
    with pytest.raises(ValueError, match=r"DQNConfig.batch_size must be int, got '32'"):
        DQNConfig(batch_size="32")
    with pytest.raises(ValueError, match=r"DQNConfig.gamma must be a finite number, got nan"):
        DQNConfig(gamma=float("nan"))
    with pytest.raises(ValueError, match=r"threads must be 'auto', None or an int >= 1"):
        DQN("CartPole-v1", threads=0)
    with pytest.raises(ValueError, match="burn_in"):
        RecurrentDQN("CartPole-v1", burn_in=39)
    with pytest.raises(ValueError, match="unknown encoder 'transformer'"):
        RecurrentDQN("CartPole-v1", encoder="transformer")


@pytest.mark.parametrize("name", list(AGENTS))
def test_save_load_gives_identical_predictions(name, tmp_path):
    agent = AGENTS[name](gym.make_vec("CartPole-v1", 2), seed=0)
    agent.learn(400)
    path = tmp_path / "agent.zip"
    agent.save(path)
    loaded = type(agent).load(path, device="cpu")
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.stack(rollout(agent, obs)), np.stack(rollout(loaded, obs)))
    for key, module in agent._modules().items():
        loaded_state = loaded._modules()[key].state_dict()
        for k, a in module.state_dict().items():
            assert torch.equal(dense(a), dense(loaded_state[k])), k
    if agent.obs_rms is not None:
        np.testing.assert_array_equal(agent.obs_rms.mean, loaded.obs_rms.mean)
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temp file


def test_load_with_other_observation_space_is_refused(tmp_path):
    agent = DQN("CartPole-v1")
    agent.save(tmp_path / "cartpole")  # ".zip" appended as in SB3
    with pytest.raises(ValueError, match=r"observation space mismatch.*Box.*\(4,\).*\(2,\)"):
        DQN.load(tmp_path / "cartpole", env="stateful_rl/CartPoleNoVel-v0")
    with pytest.raises(ValueError, match="holds a DQN, not a RecurrentDQN"):
        RecurrentDQN.load(tmp_path / "cartpole.zip")


@pytest.mark.parametrize("name", ["dqn", "gru"])
def test_evaluate_policy_single_and_vectorised(name):
    agent = AGENTS[name]("CartPole-v1", seed=1)
    agent.exploration_rate = 1.0  # evaluation must act greedily all the same
    single = gym.make("CartPole-v1")
    single.reset(seed=5)  # SB3 wraps it and resets it without a seed: the episodes follow
    rewards, _ = evaluate_policy(
        agent, single, n_eval_episodes=3, return_episode_rewards=True, warn=False
    )
    env = gym.make("CartPole-v1")  # the same three episodes, played by hand
    env.reset(seed=5)
    expected = []
    for _ in range(3):
        obs, _ = env.reset()
        state, start, done, total = None, True, False, 0.0
        while not done:
            action, state = agent.predict(obs, state, np.array([start]), deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total, start, done = total + reward, False, terminated or truncated
        expected.append(total)
    assert rewards == expected
    vec = DummyVecEnv([lambda: gym.make("CartPole-v1")])
    vec.seed(123)
    returns, _ = evaluate_policy(
        agent, vec, n_eval_episodes=1, return_episode_rewards=True, warn=False
    )
    assert returns[0] == agent.evaluate([123])[0][0]  # same episode as our vectorised evaluation
    vec3 = DummyVecEnv([lambda: gym.make("CartPole-v1")] * 3)
    returns, _ = evaluate_policy(
        agent, vec3, n_eval_episodes=6, return_episode_rewards=True, warn=False
    )
    assert len(returns) == 6


def test_predict_shapes_and_recurrent_state():
    agent = AGENTS["lstm"]("CartPole-v1", seed=0)
    action, state = agent.predict(np.zeros(4, np.float32))
    assert np.shape(action) == () and state[0].shape == (1, 1, 16) and state[-1].shape == (1,)
    obs = np.ones((3, 4), np.float32)
    _, state = agent.predict(obs)
    _, moved = agent.predict(obs, state)
    assert not np.allclose(moved[0], state[0])  # the state carries information
    _, fresh = agent.predict(obs, moved, episode_start=np.ones(3, bool))
    np.testing.assert_allclose(fresh[0], state[0])  # episode_start resets it
    dqn = AGENTS["dqn"]("CartPole-v1")
    actions, none = dqn.predict(obs)
    assert actions.shape == (3,) and none is None
    with pytest.raises(ValueError, match="does not match the observation space"):
        dqn.predict(np.ones((3, 5), np.float32))


def test_vector_env_collection_counts_real_transitions():
    env = gym.make_vec("CartPole-v1", 4, vectorization_mode="sync")
    agent = AGENTS["dqn"](env, seed=0, eval_freq=0)
    agent.learn(600)
    buffer = agent.replay_buffer
    assert buffer.n_envs == 4 and agent.num_timesteps >= 600
    stored = buffer.valid[: buffer.head]
    assert stored.sum() == agent.num_timesteps  # final-observation slots are not counted
    ends = (buffer.terminated | buffer.truncated)[: buffer.head - 1]
    # each episode end is followed by one slot that only resets the env
    np.testing.assert_array_equal(ends, ~buffer.valid[1 : buffer.head])
    assert len(agent.ep_info_buffer) == ends.sum()


def test_discrete_observations_are_one_hot():
    agent = DQN("FrozenLake-v1", **FAST, seed=0)
    agent.learn(300)
    assert agent.replay_buffer.obs.shape[-1] == 16
    assert set(np.unique(agent.replay_buffer.obs[: agent.replay_buffer.head])) <= {0.0, 1.0}


def test_readout_input_feeds_the_encoder_input_to_the_head():
    agent = AGENTS["esn-readout-input"]("CartPole-v1", seed=0)
    assert (
        agent.policy.head[0][0].in_features == 50 + 4 + 2
    )  # reservoir, observation, previous action
    with torch.no_grad():  # the head's input weights on x change Q: x reaches the head
        q0 = agent.policy.q_from(torch.zeros(1, 50), torch.ones(1, 6))
        agent.policy.head[0][0].weight[:, 50:] += 1.0
        q1 = agent.policy.q_from(torch.zeros(1, 50), torch.ones(1, 6))
    assert not torch.allclose(q0, q1)


def test_linear_learning_rate_schedule():
    agent = DQN("CartPole-v1", **FAST, learning_rate="lin_1e-3", seed=0)
    assert agent.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    agent.learn(400)  # last phase at step 400 of 400: step size 0
    assert agent.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert agent.config.learning_rate_at(0.25) == pytest.approx(2.5e-4)
    for bad in ("lin_x", "exp_1e-3", "lin_-1e-3", 0.0):
        with pytest.raises(ValueError, match="learning_rate must be a float > 0 or 'lin_"):
            DQNConfig(learning_rate=bad)


def test_numpy_acting_equals_the_torch_q_network():
    agent = AGENTS["dqn"]("CartPole-v1", seed=0)
    agent.learn(300)  # trained weights and observation statistics
    flat = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32)
    with torch.no_grad():
        q = agent.q_net(agent._obs_tensor(flat))
    np.testing.assert_allclose(agent._numpy_q(agent._normalize_numpy(flat)), q, atol=1e-5)
    assert np.array_equal(agent._greedy_actions_numpy(flat), q.argmax(1).numpy())
    agent.q_net.double()  # new storage and dtype: numpy acting is refused, not stale
    with pytest.raises(TypeError):
        agent._greedy_actions_numpy(flat)


def initial_q_values(agent, obs: np.ndarray) -> np.ndarray:
    """Q-values ``[N, A]`` of ``obs[N, F]`` at the start of episodes (float64)."""
    with torch.no_grad():
        x = agent._obs_tensor(obs)
        if not agent.recurrent:
            return agent.q_net(x).double().numpy()
        start = torch.ones(len(obs), dtype=torch.bool)
        return agent.policy.step(x, agent._initial_state(len(obs)), start)[0].double().numpy()


@pytest.mark.parametrize("name", ["dqn", "gru"])
def test_policy_temperature_samples_the_softmax_of_q(name):
    """Non-exploring actions are drawn from softmax(Q / τ): the frequencies over many copies of
    one observation match it (numpy acting for the MLP, torch for the GRU); the draws repeat
    with the seed; τ = 0 keeps the arg-max; a negative τ is refused."""
    obs = np.tile(np.array([[0.01, 0.2, -0.03, -0.3]], np.float32), (4000, 1))
    start = np.ones(len(obs), bool)
    q = initial_q_values(AGENTS[name]("CartPole-v1", seed=0), obs[:1])[0]
    tau = abs(q[1] - q[0])  # the likelier action is drawn with probability 1 / (1 + e^-1)
    expected = np.exp((q - q.max()) / tau) / np.exp((q - q.max()) / tau).sum()
    agent = AGENTS[name]("CartPole-v1", seed=0, policy_temperature=tau)
    actions, _ = agent.predict(obs, None, start)
    freq = np.bincount(actions, minlength=2) / len(actions)
    np.testing.assert_allclose(freq, expected, atol=0.03)  # 4.3 standard errors
    again = AGENTS[name]("CartPole-v1", seed=0, policy_temperature=tau)
    assert np.array_equal(again.predict(obs, None, start)[0], actions)
    greedy = AGENTS[name]("CartPole-v1", seed=0)
    assert set(greedy.predict(obs, None, start)[0]) == {q.argmax()}
    with pytest.raises(ValueError, match="policy_temperature"):
        AGENTS[name]("CartPole-v1", policy_temperature=-0.1)


def test_esn_reservoir_stays_frozen():
    agent = AGENTS["esn"]("CartPole-v1", seed=0)
    reservoir = {k: v.clone() for k, v in agent.policy.encoder.state_dict().items()}
    head = [p.clone() for p in agent.policy.head.parameters()]
    agent.learn(500)
    for k, v in agent.policy.encoder.state_dict().items():
        assert torch.equal(dense(v), dense(reservoir[k])), k
    assert any(
        not torch.equal(a, b) for a, b in zip(head, agent.policy.head.parameters(), strict=True)
    )
    assert agent.target_policy.encoder is agent.policy.encoder


class NaNAfter(gym.Wrapper):
    """Rewards become NaN after ``steps`` steps."""

    def __init__(self, env, steps):
        super().__init__(env)
        self.steps, self.count = steps, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.count += 1
        return obs, float("nan") if self.count > self.steps else reward, terminated, truncated, info


def test_nan_loss_stops_naming_the_step_and_keeps_the_checkpoint(tmp_path):
    env = NaNAfter(gym.make("CartPole-v1"), 700)
    agent = DQN(env, **FAST, seed=0, eval_freq=200, n_eval_episodes=2, eval_env="CartPole-v1")
    best = tmp_path / "best.zip"
    with pytest.raises(
        FloatingPointError,
        match=r"loss became nan at env step (7[0-9][0-9]|[89][0-9][0-9]|1[0-9]{3})",
    ):
        agent.learn(2000, best_model_path=best)
    kept = DQN.load(best)
    assert kept.num_timesteps <= 700
    assert all(torch.isfinite(p).all() for p in kept.q_net.parameters())
    agent.restore_best()
    assert all(torch.isfinite(p).all() for p in agent.q_net.parameters())


def test_callbacks_logger_and_kept_model(tmp_path):
    calls = []

    def stop_early(locals_, globals_):
        calls.append(locals_["self"].num_timesteps)
        return len(calls) < 300

    agent = AGENTS["dqn"]("CartPole-v1", seed=0, eval_freq=100, n_eval_episodes=2)
    agent.set_logger(configure(str(tmp_path), ["csv"]))
    checkpoints = CheckpointCallback(save_freq=150, save_path=str(tmp_path / "ckpt"))
    sb3_eval = EvalCallback(
        gym.make("CartPole-v1"), eval_freq=200, n_eval_episodes=2, warn=False, verbose=0
    )
    agent.learn(1000, callback=[checkpoints, sb3_eval])
    agent.learn(10_000, callback=stop_early)
    # 300 vector steps; the steps that only reset an ended episode are no transitions
    assert len(calls) == 300 and calls[-1] == agent.num_timesteps and agent.num_timesteps < 300
    saved = sorted((tmp_path / "ckpt").glob("rl_model_*_steps.zip"))
    assert len(saved) >= 6  # every 150 calls: 1000 collected steps plus the reset steps
    assert DQN.load(saved[0]).num_timesteps == int(saved[0].stem.split("_")[2])
    assert np.isfinite(sb3_eval.best_mean_reward)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"eval/mean_reward", "eval/best_mean_reward", "train/loss", "time/fps"} <= set(header)
    assert agent.best_mean_reward == max(m for _, m, _ in agent.eval_history)
    agent.restore_best()


@pytest.mark.parametrize("confirm", [False, True])
def test_eval_confirm_keeps_a_model_only_when_fresh_episodes_agree(confirm):
    agent = DQN("CartPole-v1", seed=0, eval_freq=100, n_eval_episodes=3, eval_confirm=confirm)
    screens = [1.0, 2.0, 0.625, 0.875]  # confirmations follow the screens that beat the best
    means = iter([1.0, 0.75, 2.0, 0.5, 0.625, 0.875, 0.8125] if confirm else screens)
    seen: list[int] = []

    def scripted(seeds, deterministic=True):
        seen.extend(int(s) for s in seeds)
        return np.full(len(seeds), next(means)), np.ones(len(seeds))

    agent.evaluate = scripted
    kept = []
    for step in (100, 200, 300, 400):
        agent.num_timesteps = step
        agent._evaluate_and_keep(None)
        kept.append((agent.best_step, agent.best_mean_reward))
    assert [m for _, m, _ in agent.eval_history] == screens
    assert len(seen) == len(set(seen)) == 3 * (7 if confirm else 4)  # every episode fresh
    if confirm:  # the lucky 2.0 at step 200 is refuted by its confirmation (0.5)
        assert kept == [(100, 0.75), (100, 0.75), (100, 0.75), (400, 0.8125)]
    else:
        assert kept == [(100, 1.0), (200, 2.0), (200, 2.0), (200, 2.0)]


@pytest.mark.parametrize("final_wins", [False, True])
def test_eval_final_paired_keeps_the_better_of_final_and_kept_on_the_same_episodes(final_wins):
    agent = DQN(
        "CartPole-v1", seed=0, eval_freq=100, n_eval_episodes=3, eval_final_paired=True,
        learning_starts=10, train_freq=1,
    )  # fmt: skip
    means = iter([2.0, 1.0, 1.5, 1.75 if final_wins else 1.25, 1.5])  # 3 screens, final, kept
    calls: list[tuple[list[int], torch.Tensor]] = []

    def scripted(seeds, deterministic=True):
        calls.append(([int(s) for s in seeds], weights(agent)))
        return np.full(len(seeds), next(means)), np.ones(len(seeds))

    agent.evaluate = scripted
    agent.learn(300)
    (_, kept), (final_seeds, final), (kept_seeds, kept_again) = calls[0], calls[-2], calls[-1]
    assert len(calls) == 5 and final_seeds == kept_seeds  # the pair plays the same episodes
    assert final_seeds not in [seeds for seeds, _ in calls[:3]]  # ... which are fresh
    assert torch.equal(kept_again, kept) and not torch.equal(final, kept)
    assert torch.equal(weights(agent), final)  # learn leaves the final model in the agent
    agent.restore_best()
    assert torch.equal(weights(agent), final if final_wins else kept)
    assert (agent.best_step, agent.best_mean_reward) == ((300, 1.75) if final_wins else (100, 2.0))


def weights(agent) -> torch.Tensor:
    """All parameters of the agent's modules, flattened into one copy."""
    modules = agent._modules().values()
    return torch.cat([p.detach().flatten() for m in modules for p in m.parameters()])


@pytest.mark.parametrize("name", ["dqn", "gru"])
def test_same_seed_same_training(name):
    def train(seed):
        agent = AGENTS[name](gym.make_vec("CartPole-v1", 2), seed=seed)
        agent.learn(500)
        return weights(agent)

    first = train(3)
    assert torch.equal(first, train(3))
    assert not torch.equal(first, train(4))


def test_device_auto_and_run_dir_outputs(tmp_path: Path):
    agent = DQN("CartPole-v1", device="auto", tensorboard_log=str(tmp_path), **FAST)
    agent.learn(300, log_interval=100)
    assert agent.device == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tensors = [p for m in agent._modules().values() for p in m.parameters()]
    assert tensors and {t.device for t in tensors} == {agent.device}
    assert (tmp_path / "progress.csv").exists() and list(tmp_path.glob("events.out.tfevents*"))


def test_polyak_target_update_and_double_dqn_bootstrap():
    agent = DQN("CartPole-v1", tau=0.25, net_arch=(8,))
    with torch.no_grad():
        for p in agent.q_net.parameters():
            p.add_(1.0)
    before = [p.clone() for p in agent.target_net.parameters()]
    agent._update_target()
    for old, new, online in zip(
        before, agent.target_net.parameters(), agent.q_net.parameters(), strict=True
    ):
        torch.testing.assert_close(new, old + 0.25 * (online - old))
    target_q = torch.tensor([[1.0, 5.0], [3.0, 2.0]])
    online_q = torch.tensor([[9.0, 0.0], [0.0, 9.0]])
    # DQN: max of the target network; Double DQN: the target's value of the online arg-max
    torch.testing.assert_close(agent._bootstrap(target_q, None), torch.tensor([5.0, 3.0]))
    torch.testing.assert_close(agent._bootstrap(target_q, online_q), torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("double", [False, True])
def test_training_phase_equals_update_by_update_reference(double):
    """One phase (one sample draw, targets from one pass over distinct bootstrap rows, target
    updates applied lazily) gives the parameters of the plain per-update computation."""
    # MSE: Huber's gradient saturates at ±1 for the early large TD errors, hiding targets
    config = {**FAST, "gradient_steps": 0, "n_step": 2, "loss": "mse", "double": double}
    agent = DQN("CartPole-v1", seed=0, **config)
    agent.learn(600)  # fills the buffer; no training
    with torch.no_grad():
        for p in agent.q_net.parameters():
            p.add_(0.01 * torch.randn_like(p))  # online and target differ
    ref = copy.deepcopy(agent)
    agent._update_target(3)  # three hard copies == one
    agent._train(8)
    ref._update_target()
    cfg, size = ref.config, ref.config.batch_size
    batch = ref.replay_buffer.sample_transitions(8 * size, ref.rng, cfg.n_step, cfg.gamma)
    batch = batch.to_torch(ref.device)
    losses = []
    for u in range(8):
        part = slice(u * size, (u + 1) * size)
        obs, next_obs = ref._normalize(batch.obs[part]), ref._normalize(batch.next_obs[part])
        with torch.no_grad():
            online = ref.q_net(next_obs) if double else None
            boot = ref._bootstrap(ref.target_net(next_obs), online)
            target = batch.returns[part] + batch.discounts[part] * boot
        q = ref.q_net(obs).gather(1, batch.actions[part, None]).squeeze(1)
        losses.append(ref._td_loss(q, target))
        ref._optimize(losses[-1])
    for ours, plain in zip(agent.q_net.parameters(), ref.q_net.parameters(), strict=True):
        torch.testing.assert_close(ours, plain, rtol=1e-5, atol=1e-6)
        # Adam's first moments hold the gradients themselves (its steps are ~ lr * sign)
        exp_avg = agent.optimizer.state[ours]["exp_avg"], ref.optimizer.state[plain]["exp_avg"]
        torch.testing.assert_close(*exp_avg, rtol=1e-4, atol=1e-7)
    assert not torch.equal(agent.q_net[-1].weight, agent.target_net[-1].weight)  # it trained
    assert agent.logger.name_to_value["train/loss"] == pytest.approx(
        torch.stack(losses).mean().item(), rel=1e-5
    )


class OnTimeTargetDQN(DQN):
    """DQN that applies every target update at its env step (the plain schedule)."""

    def _after_step(self, before: int) -> None:
        interval = self.config.target_update_interval
        for _ in range(multiples_crossed(interval, before, self.num_timesteps)):
            DQN._update_target(self)
        super()._after_step(before)

    def _update_target(self, times: int = 1) -> None:
        """The deferred updates of ``DQN._after_step`` were applied on time already."""


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_deferred_target_updates_equal_on_time_ones(tau):
    config = {**FAST, "target_update_interval": 3, "tau": tau, "net_arch": (16,), "seed": 1}
    deferred, on_time = DQN("CartPole-v1", **config), OnTimeTargetDQN("CartPole-v1", **config)
    for agent in (deferred, on_time):
        agent.learn(400)
    for module in ("q_net", "target_net"):
        ours, plain = getattr(deferred, module), getattr(on_time, module)
        for a, b in zip(ours.parameters(), plain.parameters(), strict=True):
            assert torch.equal(a, b)
    assert not torch.equal(deferred.q_net[-1].weight, deferred.target_net[-1].weight)
