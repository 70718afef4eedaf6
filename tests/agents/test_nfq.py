"""NFQ and RecurrentNFQ: fitting, known optimal Q, hint-to-goal, save/load, errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.agents import NFQ, RecurrentNFQ
from stateful_rl.agents.replay import TransitionBatch

torch.set_num_threads(1)  # tiny full-batch fits: more threads only contend on a loaded machine
GAMMA = 0.8
N_STATES = 4


def chain_batch() -> TransitionBatch:
    """Every (state, action) of a 4-state chain: action 1 moves right, 0 moves left (state 0
    stays); moving right from the last state earns reward 1 and terminates."""
    obs, actions, rewards, next_obs, discounts = [], [], [], [], []
    for s in range(N_STATES):
        for a in (0, 1):
            nxt = max(s - 1, 0) if a == 0 else s + 1
            done = nxt == N_STATES
            obs.append(s)
            actions.append(a)
            rewards.append(1.0 if done else 0.0)
            next_obs.append(min(nxt, N_STATES - 1))
            discounts.append(0.0 if done else GAMMA)
    eye = np.eye(N_STATES, dtype=np.float32)
    return TransitionBatch(
        obs=eye[obs],
        actions=np.array(actions),
        returns=np.array(rewards, dtype=np.float32),
        next_obs=eye[next_obs],
        discounts=np.array(discounts, dtype=np.float32),
    )


def chain_optimal_q() -> np.ndarray:
    """Q*[s, a]: right from s reaches the reward after N − s steps; left first steps back."""
    v = GAMMA ** (N_STATES - 1 - np.arange(N_STATES))  # V*(s) = Q*(s, right)
    left = GAMMA * v[np.maximum(np.arange(N_STATES) - 1, 0)]
    return np.stack([left, v], axis=1)


def spaces_agent(cls=NFQ, obs_space=None, n_actions=2, **kwargs):
    obs_space = obs_space or gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    return cls(
        None,
        observation_space=obs_space,
        action_space=gym.spaces.Discrete(n_actions),
        device="cpu",
        seed=0,
        **kwargs,
    )


@pytest.mark.parametrize("objective", ["reward", "cost"])
def test_chain_mdp_matches_optimal_q(objective):
    agent = spaces_agent(
        obs_space=gym.spaces.Discrete(N_STATES),
        objective=objective,
        net_arch=(16,),
        activation="tanh",
        action_input=False,
        refit=False,
        epochs=150,
        gamma=GAMMA,
    )
    agent.fit_batch(chain_batch(), iterations=30)
    q = agent.q_values(np.arange(N_STATES))
    sign = 1.0 if objective == "reward" else -1.0  # cost = −reward: Q is the cost-to-go −Q*
    np.testing.assert_allclose(q, sign * chain_optimal_q(), atol=1e-2)
    # the greedy policy goes right everywhere, in both conventions
    actions, _ = agent.predict(np.arange(N_STATES))
    np.testing.assert_array_equal(actions, 1)


def test_rprop_fit_drives_bellman_error_below_tolerance():
    """On 16 fixed random transitions, 15 warm-started iterations of 300 Rprop epochs leave a
    Bellman residual (cost form) below 1e-2 RMS."""
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (16, 2)).astype(np.float32)
    batch = TransitionBatch(
        obs=obs,
        actions=rng.integers(0, 2, 16),
        returns=-rng.uniform(0, 0.1, 16).astype(np.float32),
        next_obs=np.roll(obs, 1, axis=0),
        discounts=np.full(16, 0.5, dtype=np.float32),
    )
    agent = spaces_agent(net_arch=(32, 32), activation="tanh", refit=False, gamma=0.5)
    fit_mse = agent.fit_batch(batch, iterations=15)
    q = agent.q_values(batch.obs)[np.arange(16), batch.actions]
    target = -batch.returns + batch.discounts * agent.q_values(batch.next_obs).min(axis=1)
    assert fit_mse < 1e-4
    assert np.sqrt(np.mean((q - target) ** 2)) < 1e-2


def test_hint_to_goal_adds_exactly_the_documented_patterns():
    low, high = (0.5, -0.07), (0.6, 0.07)
    agent = spaces_agent(n_actions=3, hint_to_goal=7, goal_low=low, goal_high=high, epochs=2)
    seen = {}
    fit = agent._fit

    def spy(inputs, actions, targets):
        seen.update(inputs=inputs.clone(), actions=actions.clone(), targets=targets.clone())
        return fit(inputs, actions, targets)

    agent._fit = spy
    batch = chain_batch()
    batch.obs, batch.next_obs = batch.obs[:, :2], batch.next_obs[:, :2]
    batch.actions = batch.actions % 3
    agent.fit_batch(batch)
    hint_obs, hint_actions = agent.hint_patterns()
    m = len(batch.actions)
    assert seen["inputs"].shape == (m + 7, 2)
    assert np.all((hint_obs >= low) & (hint_obs <= high))
    np.testing.assert_array_equal(hint_actions, [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(seen["inputs"][m:].numpy(), hint_obs)
    np.testing.assert_array_equal(seen["actions"][m:].numpy(), hint_actions)
    np.testing.assert_array_equal(seen["targets"][m:].numpy(), 0.0)
    np.testing.assert_array_equal(seen["inputs"][:m].numpy(), batch.obs)
    agent.fit_batch(batch)  # drawn once: the same patterns at every fit
    np.testing.assert_array_equal(seen["inputs"][m:].numpy(), hint_obs)
    no_hint = spaces_agent(n_actions=3, epochs=2)
    no_hint._fit = spy
    no_hint.fit_batch(batch)
    assert seen["inputs"].shape == (m, 2)


def learned(cls, env_id, steps, **kwargs):
    agent = cls(env_id, seed=1, device="cpu", eval_freq=1, n_eval_episodes=3, **kwargs)
    return agent.learn(steps)


AGENT_CASES = {
    "nfq": (NFQ, "CartPole-v1", {"epochs": 20}),
    "rnfq-gru": (
        RecurrentNFQ,
        "stateful_rl/CartPoleNoVel-v0",
        {"epochs": 5, "encoder_kwargs": {"hidden_size": 8}},
    ),
    "rnfq-esn-ridge": (
        RecurrentNFQ,
        "stateful_rl/CartPoleNoVel-v0",
        {"encoder": "esn", "net_arch": (), "encoder_kwargs": {"units": 50}},
    ),
}


@pytest.mark.parametrize("case", list(AGENT_CASES))
def test_learn_fits_after_episodes_and_save_load_gives_identical_predictions(case, tmp_path):
    cls, env_id, kwargs = AGENT_CASES[case]
    agent = learned(cls, env_id, 400, **kwargs)
    assert agent._n_fits >= 1 and agent.n_episodes >= 2
    assert agent.eval_history and agent.best_step is not None
    path = tmp_path / "agent.zip"
    agent.save(path)
    loaded = cls.load(path, device="cpu")
    env = gym.make(env_id)
    obs = np.stack([env.reset(seed=s)[0] for s in range(8)])
    starts = np.ones(8, dtype=bool)
    a1, s1 = agent.predict(obs, None, starts)
    a2, s2 = loaded.predict(obs, None, starts)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_allclose(agent.q_values(obs), loaded.q_values(obs), rtol=0, atol=0)
    if s1 is not None:
        for x, y in zip(s1, s2, strict=True):
            np.testing.assert_array_equal(x, y)


def test_same_seed_same_training_on_cpu():
    runs = [learned(NFQ, "CartPole-v1", 300, epochs=10) for _ in range(2)]
    assert runs[0].eval_history == runs[1].eval_history
    for p, q in zip(runs[0].q_nets.parameters(), runs[1].q_nets.parameters(), strict=True):
        assert torch.equal(p, q)


def test_episode_chunks_cover_every_stored_transition_once():
    agent = learned(
        RecurrentNFQ,
        "stateful_rl/CartPoleNoVel-v0",
        300,
        epochs=2,
        chunk_slots=60,
        encoder_kwargs={"hidden_size": 4},
    )
    chunks = agent.episode_chunks()
    assert len(chunks) > 1
    t, _ = agent.replay_buffer.valid_transitions(n_step=1)
    assert sum(int(c.mask.sum()) for c in chunks) == len(t)
    for c in chunks:  # every sequence starts an episode; no transition past the episode end
        assert c.starts[0].all()
        assert not (c.mask.bool() & c.starts.roll(-1, 0)).any()


def test_ensemble_averages_the_last_fits():
    agent = spaces_agent(
        obs_space=gym.spaces.Discrete(N_STATES), ensemble=3, epochs=20, gamma=GAMMA
    )
    batch = chain_batch()
    for _ in range(4):
        agent.fit_batch(batch)
    assert len({id(net) for net in agent.q_nets}) == 3
    obs = torch.eye(N_STATES)
    mean = torch.stack([net(obs) for net in agent.q_nets]).mean(0)
    np.testing.assert_allclose(agent.q_values(np.arange(N_STATES)), mean.detach().numpy())


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="Discrete action space"):
        NFQ("Pendulum-v1")
    with pytest.raises(ValueError, match="empty"):
        spaces_agent().fit_batch(
            TransitionBatch(
                obs=np.zeros((0, 2), np.float32),
                actions=np.zeros(0, np.int64),
                returns=np.zeros(0, np.float32),
                next_obs=np.zeros((0, 2), np.float32),
                discounts=np.zeros(0, np.float32),
            )
        )
    with pytest.raises(ValueError, match="objective='cost'"):
        spaces_agent(objective="reward", hint_to_goal=10, goal_low=(0, 0), goal_high=(1, 1))
    with pytest.raises(ValueError, match="goal_low"):
        spaces_agent(hint_to_goal=10, goal_low=(0, 0, 0), goal_high=(1, 1, 1))
    with pytest.raises(ValueError, match="objective"):
        spaces_agent(objective="profit")
    with pytest.raises(ValueError, match="hint_to_goal"):
        spaces_agent(RecurrentNFQ, hint_to_goal=5, goal_low=(0, 0), goal_high=(1, 1))
    with pytest.raises(ValueError, match="no transitions stored"):
        spaces_agent(RecurrentNFQ).episode_chunks()
    with pytest.raises(ValueError, match="actions must lie"):
        batch = chain_batch()
        batch.actions = batch.actions + 5
        spaces_agent(obs_space=gym.spaces.Discrete(N_STATES)).fit_batch(batch)


@pytest.mark.parametrize("encoder", ["gru", "esn"])
def test_episode_features_match_step_by_step_acting(encoder):
    """The fit reads whole stored episodes with the same inputs (observation and previous
    action) and state as acting does step by step."""
    agent = learned(
        RecurrentNFQ,
        "stateful_rl/CartPoleNoVel-v0",
        200,
        encoder=encoder,
        epochs=2,
        encoder_kwargs={"hidden_size": 4} if encoder == "gru" else {"units": 20},
    )
    chunk = agent.episode_chunks()[-1]
    length = int(chunk.mask[:, 0].sum()) + 1
    with torch.no_grad():
        whole = agent.policy.head(agent._features(chunk))[:length, 0]
        state, stepped = agent._initial_state(1), []
        for t in range(length):
            start = torch.tensor([t == 0])
            q, state = agent.policy.step(agent.normalize(chunk.obs[t, :1]), state, start)
            state = agent._record_actions(state, chunk.actions[t, :1])
            stepped.append(q)
    torch.testing.assert_close(torch.cat(stepped), whole, atol=1e-5, rtol=1e-5)


def test_refit_restores_each_encoders_own_initialisation():
    """Refitting from scratch re-initialises the encoder as its constructor does: the
    LSTM's forget-gate bias is back at 1 (torch's generic reset would draw it around 0)."""
    from stateful_rl.agents import RecurrentNFQ

    agent = RecurrentNFQ("stateful_rl/CartPoleNoVel-v0", encoder="lstm", refit=True, epochs=1,
                         rprop_step=1e-4, encoder_kwargs={"hidden_size": 8}, seed=0)  # fmt: skip
    with torch.no_grad():
        agent.policy.encoder.rnn.bias_ih_l0.fill_(-3.0)  # far from any initialisation
    agent.learn(200)
    assert agent._n_fits >= 2
    bias = agent.policy.encoder.rnn.bias_ih_l0.detach()
    assert abs(bias[8:16].mean().item() - 1.0) < 0.05
