"""Claim 8 (recurrent vs memoryless agents): the verdict's logic on synthetic returns and the
catch run's wiring at a tiny budget (default run); the claim trained from scratch on
OccludedCatch-v1 and CartPoleNoVel-v0, and its breaks (``-m slow``)."""

from __future__ import annotations

import numpy as np
import pytest

from stateful_rl.claims import agents


def test_verdict_scores_against_the_references() -> None:
    returns = {"esn-nfq": [480.0, 450.0, 100.0], "nfq": [50.0, 60.0, 40.0]}
    verdict = agents.verdict(returns, ["esn-nfq"], r_best_memoryless=50.0, r_bayes=500.0)
    assert verdict.holds  # two of three recurrent seeds above 0.5, memoryless at ≤ 0.02
    np.testing.assert_allclose(
        verdict.numbers["scores"]["esn-nfq"], [430 / 450, 400 / 450, 50 / 450]
    )
    # a better memoryless reference shrinks the recurrent agent's scores below 0.5
    assert not agents.verdict(returns, ["esn-nfq"], r_best_memoryless=420.0, r_bayes=500.0).holds
    # one recurrent seed above 0.5 out of three is not a majority
    weak = {"esn-nfq": [480.0, 200.0, 100.0], "nfq": [50.0]}
    assert not agents.verdict(weak, ["esn-nfq"], 50.0, 500.0).holds
    # a memoryless agent that closes a quarter of the gap on one seed breaks it
    strong = {"esn-nfq": [480.0, 450.0], "nfq": [50.0, 170.0]}
    assert not agents.verdict(strong, ["esn-nfq"], 50.0, 500.0).holds
    # both kinds are needed
    assert not agents.verdict({"esn-nfq": [480.0]}, ["esn-nfq"], 50.0, 500.0).holds


def test_verdict_refuses_references_without_a_gap() -> None:
    with pytest.raises(ValueError, match="no memory gap"):
        agents.verdict({"esn-nfq": [1.0], "nfq": [1.0]}, ["esn-nfq"], 500.0, 500.0)


def test_catch_verdict_uses_the_references_of_its_episodes() -> None:
    references = {"best_memoryless": -0.5, "bayes": 1.0, "random": -0.7}
    evidence = {"returns": {"recurrent-dqn": [1.0, 0.9, 0.1], "dqn": [-0.5, -0.3]}}
    verdict = agents.catch_verdict({**evidence, "references": references})
    assert verdict.holds
    np.testing.assert_allclose(verdict.numbers["scores"]["dqn"], [0.0, 0.2 / 1.5])
    # the same returns against a Bayes reference of 3 leave the recurrent agent below 0.5
    assert not agents.catch_verdict({**evidence, "references": {**references, "bayes": 3.0}}).holds


def test_catch_run_trains_both_presets_and_scores_the_references() -> None:
    evidence = agents.run_catch(agents.CatchBudget(seeds=(0,), steps=1_000, episodes=42))
    assert set(evidence["returns"]) == set(agents.CATCH_AGENTS)
    assert all(len(v) == 1 for v in evidence["returns"].values())
    refs = evidence["references"]
    assert refs["bayes"] == refs["oracle"] == 1.0  # on v1 the exact filter catches every ball
    assert refs["best_memoryless"] < 0.0
    assert [len(c) for c in evidence["curves"]["dqn"]] == [1]  # the final evaluation only


@pytest.mark.slow
def test_recurrent_dqn_beats_dqn_on_catch_from_scratch() -> None:
    """The presets (100 000 env steps), 3 seeds each, exact references on the same episodes."""
    verdict = agents.catch_verdict(agents.run_catch(agents.CatchBudget()))
    assert verdict.holds, verdict.numbers["scores"]


@pytest.mark.slow
def test_recurrent_dqn_without_memory_fails_on_catch(monkeypatch) -> None:
    """The break: the GRU is reset at every step (one seed); the memoryless side is the
    best memoryless reference itself."""
    agents.BREAKS[1].apply(monkeypatch)
    budget = agents.CatchBudget(agents=("recurrent-dqn",), seeds=(0,))
    evidence = agents.run_catch(budget)
    evidence["returns"]["dqn"] = [evidence["references"]["best_memoryless"]]
    assert not agents.catch_verdict(evidence).holds, evidence["returns"]


@pytest.mark.slow
def test_esn_nfq_beats_feed_forward_nfq_from_scratch() -> None:
    """3 seeds, 30 000 steps each. References: R_Bayes = 500 (the return cap) and, until an
    exact best memoryless policy exists, the feed-forward agents' mean return."""
    evidence = agents.run(agents.Budget())
    returns = evidence["returns"]
    verdict = agents.verdict(
        returns,
        agents.RECURRENT_AGENTS,
        r_best_memoryless=float(np.mean(returns["nfq"])),
        r_bayes=agents.CARTPOLE_MAX_RETURN,
    )
    assert verdict.holds, verdict.numbers["scores"]


@pytest.mark.slow
def test_esn_nfq_without_reservoir_memory_fails(monkeypatch) -> None:
    """The break: the reservoir is reset at every step; ESN-NFQ then sees one frame, as the
    feed-forward agent does (one seed, 30 000 steps)."""
    agents.BREAKS[0].apply(monkeypatch)
    returns = agents.run(agents.Budget(agents=("esn-nfq",), seeds=(0,)))["returns"]
    verdict = agents.verdict(
        {**returns, "nfq": [43.4]},
        agents.RECURRENT_AGENTS,
        r_best_memoryless=43.4,
        r_bayes=agents.CARTPOLE_MAX_RETURN,
    )
    assert not verdict.holds, verdict
