"""The shared replay buffer: n-step windows, episode boundaries, sequences, stored states."""

import numpy as np
import pytest

from stateful_rl.agents.replay import ReplayBuffer, n_step_returns


def test_n_step_returns_stop_at_episode_end():
    gamma = 0.5
    rewards = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [4.0, 4.0, 4.0]])
    terminated = np.zeros((3, 3), dtype=bool)
    truncated = np.zeros((3, 3), dtype=bool)
    terminated[1, 1] = True  # column 1 terminates after its 2nd step: no bootstrap
    truncated[0, 2] = True  # column 2 is truncated after its 1st step: bootstrap at offset 1
    returns, offset, discount = n_step_returns(rewards, terminated, truncated, gamma)
    np.testing.assert_allclose(returns, [1 + 0.5 * 2 + 0.25 * 4, 1 + 0.5 * 2, 1.0])
    np.testing.assert_array_equal(offset, [3, 2, 1])
    np.testing.assert_allclose(discount, [0.125, 0.0, 0.5])


def fill(buffer: ReplayBuffer, episode_lengths: list[int], n_steps: int) -> list[int]:
    """Write a NEXT_STEP stream for env 0 (env 1 mirrors it); obs = slot index; return starts."""
    lengths = iter(episode_lengths)
    remaining, pending_reset, start = next(lengths), False, True
    starts = []
    for t in range(n_steps):
        valid = not pending_reset
        done = valid and remaining == 1
        if start:
            starts.append(t)
        obs = np.full((2, 1), t, dtype=np.float32)
        state = (np.full((2, 3), t, dtype=np.float32),) if buffer.wants_state() else None
        prev = np.full(2, -1 if start else (t - 1) % 2)  # what a recurrent policy read
        buffer.add(
            obs, np.array([t % 2, t % 2]), np.ones(2) * valid, np.array([done] * 2),
            np.zeros(2, bool), np.array([start] * 2), np.array([valid] * 2), state, prev,
        )  # fmt: skip
        start = pending_reset
        if pending_reset:
            remaining, pending_reset = next(lengths), False
        elif done:
            pending_reset = True
        else:
            remaining -= 1
    return starts


def test_transitions_skip_final_observations_and_bootstrap_inside_episode():
    buffer = ReplayBuffer(100, 2, 1)
    fill(buffer, [3, 4, 100], 20)  # slots 0-2 episode, 3 final obs, 4-7 episode, 8 final, 9.. ep
    t, _ = buffer.valid_transitions(n_step=2)
    assert 3 not in t and 8 not in t and 4 in t
    batch = buffer.transitions(np.array([1, 2, 6]), np.array([0, 1, 0]), n_step=2, gamma=0.9)
    # slot 1: rewards 1 (slot 1) + 0.9 (slot 2, terminal) -> no bootstrap
    np.testing.assert_allclose(batch.returns, [1.9, 1.0, 1.9])
    np.testing.assert_allclose(batch.discounts, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(batch.next_obs[:, 0], [3, 3, 8])
    sample = buffer.sample_transitions(256, np.random.default_rng(0), n_step=2, gamma=0.9)
    assert not np.isin(sample.obs[:, 0], [3, 8]).any()
    # distinct bootstrap rows: the same transitions, each bootstrap slot stored once
    compact = buffer.sample_transitions(
        256, np.random.default_rng(0), n_step=2, gamma=0.9, distinct_next=True
    )
    np.testing.assert_array_equal(compact.obs, sample.obs)
    np.testing.assert_array_equal(compact.next_obs[compact.next_index], sample.next_obs)
    assert sample.next_index is None
    # every stored row is used; at most 2 envs x 19 bootstrap slots (1..19) exist
    assert len(np.unique(compact.next_index)) == len(compact.next_obs) <= 38


def test_sequences_mask_burn_in_padding_and_boundaries_and_store_states():
    buffer = ReplayBuffer(80, 2, 1, state_shapes=[(3,)], state_stride=4)
    assert fill(buffer, [6, 30, 100], 30) == [0, 7]  # slot 5 terminal, 6 final obs, 7 start
    batch = buffer.sequences(np.array([4, 0]), np.array([1, 0]), 8, burn_in=3, n_step=2, gamma=0.9)
    np.testing.assert_array_equal(batch.states[0][:, 0], [4, 0])  # stored at the start slots
    # From slot 4: burn-in (stale state) masked, slot 6 (final obs) is no transition, the
    # episode starting at slot 7 has an exact state (no burn-in), bootstraps stay inside.
    np.testing.assert_array_equal(batch.mask[:, 0], [0, 0, 0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(batch.starts[:, 0], [0, 0, 0, 1, 0, 0, 0, 0])
    assert batch.prev_actions[3, 0] == -1 and batch.prev_actions[4, 0] == 1
    # From slot 0 (an episode start): no burn-in masking; slots 4 and 5 end in termination.
    np.testing.assert_array_equal(batch.mask[:, 1], [1, 1, 1, 1, 1, 1, 0, 0])
    np.testing.assert_allclose(batch.discounts[3:6, 1], [0.81, 0.0, 0.0])
    np.testing.assert_array_equal(batch.boot_index[3:6, 1], [5, 6, 6])
    np.testing.assert_allclose(batch.returns[4:6, 1], [1.9, 1.0])


def test_sequence_sampling_stays_inside_ring_and_is_seeded():
    buffer = ReplayBuffer(32, 2, 1, state_shapes=[(3,)], state_stride=4)
    fill(buffer, [5] * 40, 100)  # wrapped more than twice
    a = buffer.sample_sequences(64, np.random.default_rng(1), 8, 2, 1, 0.9)
    b = buffer.sample_sequences(64, np.random.default_rng(1), 8, 2, 1, 0.9)
    np.testing.assert_array_equal(a.obs, b.obs)
    first = a.obs[0, :, 0]
    assert first.min() >= buffer.oldest and (first % 4 == 0).all()
    assert (np.diff(a.obs[:, :, 0], axis=0) == 1).all()  # contiguous slots
    np.testing.assert_array_equal(a.states[0][:, 0], first)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, 1, 1)
    buffer = ReplayBuffer(10, 1, 1, state_shapes=[(2,)], state_stride=2)
    with pytest.raises(ValueError, match="recurrent state"):
        buffer.add(*(np.zeros(1),) * 2, np.zeros(1), *(np.zeros(1, bool),) * 4)
    with pytest.raises(ValueError, match="fewer than one sequence"):
        buffer.sample_sequences(1, np.random.default_rng(0), 8, 0, 1, 0.9)
    with pytest.raises(ValueError, match="outside the stored slots"):
        buffer.sequences(np.array([0]), np.array([0]), 8, 0, 1, 0.9)


def test_replayed_sequences_reproduce_the_acting_states():
    """Observations, previous actions, episode starts and stored states of the replay are
    what the policy read while acting: replaying a stride from one stored state reaches the
    next stored state (a wrong previous action, e.g., would not)."""
    import gymnasium as gym
    import torch

    import stateful_rl.envs  # noqa: F401
    from stateful_rl.agents import RecurrentDQN

    env = gym.make_vec("stateful_rl/OccludedCatch-v0", 3)
    agent = RecurrentDQN(env, encoder="gru", encoder_kwargs={"hidden_size": 8},
                         normalize_obs=False, learning_starts=10**6, exploration_final_eps=0.5,
                         sequence_length=12, sequence_stride=4, burn_in=2, seed=0)  # fmt: skip
    agent.learn(240)  # acting only: every stored state comes from the same network
    buffer, stride = agent.replay_buffer, 4
    t0 = np.repeat(np.arange(0, buffer.head - 2 * stride, stride), 3)
    env_index = np.tile(np.arange(3), len(t0) // 3)
    now = buffer.sequences(t0, env_index, stride, 0, 1, 0.9).to_torch(torch.device("cpu"))
    later = buffer.sequences(t0 + stride, env_index, stride, 0, 1, 0.9)
    policy = agent.policy
    with torch.no_grad():
        x = policy.inputs(now.obs, now.prev_actions)
        _, (h,) = policy.encoder(x, now.states, now.starts)
    torch.testing.assert_close(h, torch.as_tensor(later.states[0]), atol=1e-6, rtol=0)
    assert (now.prev_actions >= 0).any() and (now.prev_actions == -1).any()
