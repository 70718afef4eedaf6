"""Explaining a recurrent DQN's decisions (agents/explain.py)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.agents import RecurrentDQN
from stateful_rl.agents.explain import (
    RecurrentQExplainer,
    last_visible_fractions,
    occlusion_starts,
    pick_decision,
    play_episode,
)

ENV_ID = "stateful_rl/OccludedTracking-v0"
TARGET_FEATURES = (1, 2)


def play(agent, seed):
    return play_episode(agent, ENV_ID, seed)


STEPS = 40


def make_agent(encoder: str = "lstm", **kwargs) -> RecurrentDQN:
    """An untrained agent with non-trivial observation statistics (the explainer must
    reproduce whatever network it has)."""
    torch.manual_seed(0)
    agent = RecurrentDQN(
        ENV_ID, encoder=encoder, encoder_kwargs={"hidden_size": 8}, net_arch=(8,), seed=0, **kwargs
    )
    if agent.obs_rms is not None:
        agent.obs_rms.mean = np.array([0.1, -0.2, 0.6])
        agent.obs_rms.var = np.array([0.3, 0.2, 0.24])
        agent._sync_obs_stats()
    return agent


@pytest.fixture(scope="module")
def agent() -> RecurrentDQN:
    return make_agent()


@pytest.fixture(scope="module")
def episode(agent) -> dict[str, torch.Tensor]:
    """The first STEPS steps of a greedy episode with at least one occlusion."""
    for seed in range(50):
        rollout = play(agent, seed)
        if not rollout["visible"][:STEPS].all() and rollout["visible"][0]:
            return {
                "seed": seed,
                "rollout": rollout,
                "obs": torch.as_tensor(rollout["obs"][:STEPS, None]),
                "actions": torch.as_tensor(rollout["action"][:STEPS, None]),
                "visible": rollout["visible"][:STEPS],
            }
    raise AssertionError("no episode with an occlusion in 50 seeds")


def agent_q_values(agent: RecurrentDQN, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Q-values ``[T, B, A]`` as the agent computes them while acting, step by step."""
    state = agent.policy.initial_state(obs.shape[1])
    q = []
    with torch.no_grad():
        for t in range(obs.shape[0]):
            start = torch.full((obs.shape[1],), t == 0)
            values, state = agent.policy.step(agent.normalize(obs[t]), state, start)
            q.append(values)
            state = agent.policy.record_actions(state, actions[t])
    return torch.stack(q)


@pytest.mark.parametrize("fold", [True, False])
def test_explained_network_is_the_agents(agent, episode, fold):
    before = {k: v.clone() for k, v in agent.policy.encoder.state_dict().items()}
    explainer = RecurrentQExplainer(agent, fold_normalization=fold)
    for key, value in agent.policy.encoder.state_dict().items():  # the agent is left as it was
        assert torch.equal(value, before[key]), key
    assert agent.policy.head.training
    expected = agent_q_values(agent, episode["obs"], episode["actions"])
    for t in (0, 7, STEPS - 1):
        x = explainer.inputs(episode["obs"][: t + 1], episode["actions"][: t + 1])
        with torch.no_grad():
            torch.testing.assert_close(explainer.q_values(x), expected[t], rtol=1e-5, atol=1e-5)
    # the greedy action at every step is the one the agent took
    greedy = expected.argmax(-1)
    assert torch.equal(greedy, episode["actions"])


def test_lrp_on_raw_observations_gives_occluded_target_no_relevance(agent, episode):
    explainer = RecurrentQExplainer(agent, ["tracker", "target", "visible"])
    e = explainer.explain(episode["obs"], episode["actions"], ig_steps=16)
    assert e.feature_names[3:] == [f"previous action {a}" for a in range(3)]
    hidden = torch.as_tensor(~episode["visible"])
    for method, r in e.relevance.items():
        assert r.shape == (STEPS, 1, 6), method
        if method != "integrated_gradients":  # IG integrates along the path, not at x
            assert r[hidden][:, 0, 1:3].abs().max() == 0, method
        assert r[~hidden][:, 0, 1:3].abs().max() > 0, method
    assert r[0, 0, 3:].abs().max() == 0  # no previous action at the episode start
    assert torch.equal(e.actions, e.q_values.argmax(1))


def test_lrp_conservation_and_completeness(agent, episode):
    explainer = RecurrentQExplainer(agent)
    obs, actions = episode["obs"], episode["actions"]
    e = explainer.explain(obs, actions, bias_factor=1.0, eps=1e-9, methods=["lrp"])
    q = e.q_values.gather(1, e.actions[:, None]).squeeze(1)
    # all relevance reaches the inputs or the (zero) initial state's bias share
    torch.testing.assert_close(e.relevance["lrp"].sum((0, 2)) + e.lrp_rest, q)
    assert e.lrp_rest.abs().item() < 0.2 * q.abs().item()
    ig = explainer.explain(obs, actions, methods=["integrated_gradients"], ig_steps=64)
    x = explainer.inputs(obs, actions)
    with torch.no_grad():
        at_zero = explainer.q_values(torch.zeros_like(x)).gather(1, ig.actions[:, None])[:, 0]
    torch.testing.assert_close(
        ig.relevance["integrated_gradients"].sum((0, 2)), q - at_zero, rtol=1e-3, atol=1e-3
    )


def test_target_action_and_batches(agent, episode):
    explainer = RecurrentQExplainer(agent)
    obs = episode["obs"].expand(-1, 3, -1)
    actions = episode["actions"].expand(-1, 3)
    target = torch.tensor([0, 1, 2])
    e = explainer.explain(obs, actions, target=target, methods=["lrp", "gradient_x_input"])
    assert torch.equal(e.actions, target)
    assert e.relevance["lrp"].shape == (STEPS, 3, 6)
    # different actions' Q-values have different explanations of the same history
    assert not torch.allclose(e.relevance["lrp"][:, 0], e.relevance["lrp"][:, 2])


def test_bad_input_is_named(agent, episode):
    explainer = RecurrentQExplainer(agent)
    obs, actions = episode["obs"], episode["actions"]
    with pytest.raises(ValueError, match="observations must be"):
        explainer.explain(obs[..., :2], actions)
    with pytest.raises(ValueError, match="actions must be"):
        explainer.explain(obs, actions[:-1])
    with pytest.raises(ValueError, match="actions must lie"):
        explainer.explain(obs, actions + 5)
    with pytest.raises(ValueError, match="unknown methods"):
        explainer.explain(obs, actions, methods=["saliency"])
    with pytest.raises(ValueError, match="observation_names"):
        RecurrentQExplainer(agent, ["only one"])
    with pytest.raises(ValueError, match="encoder='lstm'"):
        RecurrentQExplainer(make_agent("gru"))
    with pytest.raises(ValueError, match="clip"):
        explainer.explain(obs * 0 + 100.0, actions)  # 100 normalises to > 10: clipped


def test_agent_without_normalisation_or_previous_action(episode):
    agent = make_agent(normalize_obs=False, prev_action_input=False)
    explainer = RecurrentQExplainer(agent)
    assert not explainer.folded and len(explainer.feature_names) == 3
    expected = agent_q_values(agent, episode["obs"], episode["actions"])
    x = explainer.inputs(episode["obs"], episode["actions"])
    with torch.no_grad():
        torch.testing.assert_close(explainer.q_values(x), expected[-1], rtol=1e-5, atol=1e-5)


def test_last_visible_fractions():
    visible = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0], dtype=bool)
    np.testing.assert_array_equal(
        occlusion_starts(visible), [-1, -1, -1, -1, -1, -1, 6, 6, 6, -1, 10, 10]
    )
    assert occlusion_starts(np.array([False, False, True]))[:2].tolist() == [-1, -1]
    relevance = np.zeros((12, 6))
    relevance[4, 1] = 3.0  # target feature, inside the last 5 visible steps before step 6
    relevance[0, 1] = -1.0  # older
    relevance[8, 0] = 4.0  # tracker now
    f = last_visible_fractions(relevance, 8, visible, 6, TARGET_FEATURES, k=5)
    assert f["all_features"] == pytest.approx(3 / 8)
    assert f["target_features"] == pytest.approx(3 / 4)
    assert f["uniform_all"] == pytest.approx(5 / 9)
    # the window skips occluded steps: before step 10 the last 5 visible are 2, 3, 4, 5, 9
    relevance[9, 2], relevance[1, 2] = 2.0, 100.0
    f = last_visible_fractions(relevance, 11, visible, 10, TARGET_FEATURES, k=5)
    assert f["target_features"] == pytest.approx(5 / 106)
    assert f["all_features"] == pytest.approx(5 / 110)
    assert pick_decision({"visible": visible}, depth=1) == 7
    assert pick_decision({"visible": visible}, depth=10) == 8


def test_play_is_seeded(agent, episode):
    a, b = play(agent, episode["seed"]), episode["rollout"]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert len(a["obs"]) == 200 and a["obs"].shape[1] == 3
    assert gym.spec(ENV_ID).max_episode_steps == 200


def test_saved_agent_still_loads_and_remembers():
    """The run in docs/saved_runs (the report's agent) loads with today's code; during an
    occlusion its LRP relevance sits on the last visible steps far above an even spread."""
    from pathlib import Path

    run_dir = Path(__file__).parents[2] / "docs" / "saved_runs" / "rdqn_lstm_tracking"
    saved = RecurrentDQN.load(run_dir / "model.zip", device="cpu")
    rollout = play(saved, 20_000_000)
    assert rollout["reward"].sum() > -25  # memoryless reference: -32 on average
    t = pick_decision(rollout)
    e = RecurrentQExplainer(saved, ["tracker x", "seen target x", "visible flag"]).explain(
        torch.as_tensor(rollout["obs"][: t + 1, None]),
        torch.as_tensor(rollout["action"][: t + 1, None]),
        methods=["lrp"],
    )
    begin = occlusion_starts(rollout["visible"])[t]
    f = last_visible_fractions(
        e.relevance["lrp"][:, 0].numpy(), t, rollout["visible"], begin, TARGET_FEATURES
    )
    assert f["all_features"] > 3 * f["uniform_all"], f
