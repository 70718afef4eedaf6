"""Claim 12: an HMM's forward filter is an RNN with multiplicative input, and a trained GRU's
state holds the HMM's belief.

The lecture contrasts HMMs (discrete state space, an ``h × h`` transition matrix A, no
inputs) with RNNs (continuous state, deterministic transitions, inputs). The filter of an
HMM closes the gap: its belief ``h_t = p(s_t | o_0..o_t)`` follows the deterministic
recursion ``h_t = normalise(diag(B x_t) Aᵀ h_{t−1})`` with ``x_t`` the one-hot observation,
so B's column of the seen symbol multiplies the carried state: an RNN whose input acts
multiplicatively. Checked on OccludedCatch-v1, whose hidden ball state (column, velocity)
is an HMM with 21 states (:mod:`stateful_rl.envs.catch_references`):

(a) the constructed network :class:`ForwardFilterRNN` (float64) against the exact
    filter :class:`~stateful_rl.envs.catch_references.CatchBeliefFilter`;
(b) a GRU trained only to predict the true hidden state from the ball's observations: a
    ridge decoder reads the exact belief from its state on occluded steps (R² on held-out
    episodes), and a policy that moves the paddle to the most likely landing column of the
    decoded belief is scored next to the Bayes-optimal policy on the same episodes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

import stateful_rl.envs  # noqa: F401  (registers the ids)
from stateful_rl.claims.base import Break, Patcher, Verdict, state_reset_every_step
from stateful_rl.encoders import GRUEncoder
from stateful_rl.encoders.ridge import RidgeReadout
from stateful_rl.envs.catch import CatchTask
from stateful_rl.envs.catch_references import CatchBeliefFilter, CatchModel
from stateful_rl.envs.reference_policies import (
    ReferencePolicy,
    memory_score,
    policy_returns,
    reference_means,
)

NUMBER = 12
TITLE = "An HMM filter is an RNN with multiplicative input; a trained GRU holds its belief"
CLAIM = (
    "The HMM forward recursion h_t = normalise(diag(B x_t) Aᵀ h_{t−1}) is an RNN whose one-hot "
    "input multiplies the carried state; built from the catch task's A and B it equals the "
    "exact Bayes filter. A GRU trained only to predict the hidden ball state carries that "
    "belief: with 64 units or more a linear decoder reads it from the GRU state on occluded "
    "steps (R² ≥ 0.9; on this task the belief there is the true state, known after two "
    "sightings), and acting on the decoded belief scores as the Bayes-optimal policy."
)
ENV = "stateful_rl/OccludedCatch-v1"
TASK = CatchTask()  # OccludedCatch-v1's parameters
BALL = slice(1, 4)  # the GRU's inputs: ball column, row, visibility (the paddle says nothing)
# First env seed of each set of episodes (plus ``Budget.seed``): sub-env i is seeded
# first + i, so the sets share no episode.
FIRST_SEED = {"filter": 0, "train": 1_000_000, "test": 2_000_000}


@dataclass(frozen=True)
class Budget:
    """Episodes of each part and the GRU's training (Adam, minibatches of whole episodes)."""

    filter_episodes: int = 2000  # (a): episodes compared with the exact filter
    train_episodes: int = 2000
    test_episodes: int = 1000  # held-out episodes of the decoder's R² and of the returns
    hidden_size: int = 64  # the GRU that acts and is judged: the recurrent-dqn catch preset's
    other_sizes: tuple[int, ...] = (32, 128)  # GRUs trained alike, their R² reported only
    updates: int = 1500
    batch: int = 64
    learning_rate: float = 1e-2
    ridge: float = 1e-6
    seed: int = 0

    @classmethod
    def quick(cls) -> Budget:
        return cls(
            filter_episodes=100, train_episodes=300, test_episodes=200, updates=300, other_sizes=()
        )


# ---------------------------------------------------------------- (a) the HMM as an RNN
def hmm_matrices(model: CatchModel) -> tuple[NDArray, NDArray, NDArray]:
    """The catch HMM: transition ``A[s, s']`` (``[S, S]``, deterministic rows), emission
    likelihoods ``B[s, o]`` (``[S, C + 1]``: symbols 0..C−1 the seen column, C "hidden")
    and the prior over the launches ``[S]``.

    Whether the ball is hidden depends on the row only, so the hidden symbol has the same
    likelihood (1) in every state: B's rows are likelihoods up to a per-symbol factor,
    which the normalisation removes.
    """
    states, columns = len(model.state_column), model.task.columns
    transition = np.zeros((states, states))
    transition[np.arange(states), model.next_state] = 1.0
    emission = np.zeros((states, columns + 1))
    emission[np.arange(states), model.state_column] = 1.0
    emission[:, columns] = 1.0
    return transition, emission, np.full(states, 1.0 / states)


def filter_step(predicted: torch.Tensor, likelihood: torch.Tensor) -> torch.Tensor:
    """``normalise(likelihood ⊙ predicted)``: the input's emission column ``B x_t`` (``[B, S]``)
    multiplies the predicted state ``Aᵀ h_{t−1}`` (``[B, S]``)."""
    product = likelihood * predicted
    return product / product.sum(dim=-1, keepdim=True)


class ForwardFilterRNN(nn.Module):
    """The HMM forward filter as an RNN over one-hot observations (float64).

    ``h_t = normalise(diag(B x_t) Aᵀ h_{t−1})``; at an episode start the carried term
    ``Aᵀ h_{t−1}`` is replaced by the prior (the state resets, as the project's encoders do).
    Call as the encoders: ``x[T, Bt, O]``, ``state[Bt, S]``, ``starts[T, Bt]`` ->
    ``(beliefs[T, Bt, S], state)``.
    """

    def __init__(self, transition: NDArray, emission: NDArray, prior: NDArray) -> None:
        super().__init__()
        for name, value in (("transition", transition), ("emission", emission), ("prior", prior)):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float64))

    def initial_state(self, batch_size: int) -> torch.Tensor:
        return self.prior.expand(batch_size, -1).clone()

    def forward(
        self, x: torch.Tensor, state: torch.Tensor, starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        beliefs = []
        for x_t, start in zip(x, starts, strict=True):
            predicted = torch.where(start[:, None], self.prior, state @ self.transition)
            state = filter_step(predicted, x_t @ self.emission.T)
            beliefs.append(state)
        return torch.stack(beliefs), state


def hmm_filter(model: CatchModel) -> ForwardFilterRNN:
    """:class:`ForwardFilterRNN` of the catch HMM of ``model``."""
    return ForwardFilterRNN(*hmm_matrices(model))


def observation_symbols(task: CatchTask, obs: NDArray) -> NDArray[np.int64]:
    """``obs[..., 4]`` -> the HMM's symbols ``[...]``: the seen column, or C while hidden."""
    seen = np.rint(obs[..., 1] * (task.columns - 1)).astype(np.int64)
    return np.where(obs[..., 3] > 0.5, seen, task.columns)


def one_hot(task: CatchTask, obs: NDArray) -> torch.Tensor:
    """``obs[..., 4]`` -> one-hot symbols ``[..., C + 1]`` (float64)."""
    return torch.from_numpy(np.eye(task.columns + 1)[observation_symbols(task, obs)])


def catch_episodes(episodes: int, seed: int) -> tuple[NDArray, NDArray[np.int64]]:
    """Whole OccludedCatch-v1 episodes (env seeds ``seed ..``; the actions drawn uniformly
    with ``seed``): observations
    ``[rows, episodes, 4]`` (launch row 0 to landing) and the true state index
    ``3 * column + velocity + 1`` ``[rows, episodes]``."""
    env = gym.make_vec(ENV, num_envs=episodes, vectorization_mode="vector_entry_point")
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    observations, states = [obs], [info["ball_state"]]
    for _ in range(TASK.rows - 1):
        obs, _, _, _, info = env.step(rng.integers(3, size=episodes))
        observations.append(obs)
        states.append(info["ball_state"])
    env.close()
    state = np.stack(states).astype(np.int64)
    return np.stack(observations).astype(np.float64), 3 * state[..., 0] + state[..., 1] + 1


def episode_starts(obs: NDArray) -> torch.Tensor:
    """``[rows, episodes]``: True at row 0."""
    starts = torch.zeros(obs.shape[:2], dtype=torch.bool)
    starts[0] = True
    return starts


def exact_beliefs(model: CatchModel, obs: NDArray) -> NDArray:
    """The exact filter's belief after each observation of ``obs[rows, B, 4]``:
    ``[rows, B, S]`` (integer counts of the consistent launches, normalised)."""
    exact = CatchBeliefFilter(model)
    counts = exact.prior(obs.shape[1])
    beliefs = []
    for o in obs:
        _, seen, visible = model.task.split_obs(o)
        counts = exact.update(counts, np.rint(seen[:, 0]).astype(np.int64), visible)
        beliefs.append(counts / counts.sum(axis=1, keepdims=True))
        counts = exact.predict(counts)
    return np.stack(beliefs)


def rnn_beliefs(model: CatchModel, obs: NDArray) -> NDArray:
    """The constructed RNN's beliefs over ``obs[rows, B, 4]``: ``[rows, B, S]``."""
    rnn = hmm_filter(model)
    with torch.no_grad():
        x, starts = one_hot(model.task, obs), episode_starts(obs)
        beliefs, _ = rnn(x, rnn.initial_state(obs.shape[1]), starts)
    return beliefs.numpy()


# ---------------------------------------------------------------- (b) a trained GRU
def train_gru(
    obs: NDArray, states: NDArray, hidden_size: int, budget: Budget
) -> tuple[GRUEncoder, list[float]]:
    """A GRU (with a linear head, dropped afterwards) trained by cross-entropy to predict the
    true state index at every row from the ball's observations; the loss per update."""
    torch.manual_seed(budget.seed)
    encoder = GRUEncoder(BALL.stop - BALL.start, hidden_size)
    head = nn.Linear(hidden_size, 3 * TASK.columns)
    optimiser = torch.optim.Adam([*encoder.parameters(), *head.parameters()], budget.learning_rate)
    x = torch.from_numpy(obs[..., BALL]).float()
    y, starts = torch.from_numpy(states), episode_starts(obs)
    generator = torch.Generator().manual_seed(budget.seed)
    losses = []
    for _ in range(budget.updates):
        pick = torch.randint(x.shape[1], (budget.batch,), generator=generator)
        features, _ = encoder(x[:, pick], encoder.initial_state(budget.batch), starts[:, pick])
        loss = nn.functional.cross_entropy(head(features).flatten(0, 1), y[:, pick].flatten())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return encoder, losses


def gru_features(encoder: GRUEncoder, obs: NDArray) -> torch.Tensor:
    """The GRU's state after each observation of ``obs[rows, B, 4]``: ``[rows, B, H]``."""
    with torch.no_grad():
        x = torch.from_numpy(obs[..., BALL]).float()
        return encoder(x, encoder.initial_state(obs.shape[1]), episode_starts(obs))[0]


def r_squared(prediction: NDArray, target: NDArray) -> float:
    """``1 − Σ(ŷ − y)² / Σ(y − ȳ)²`` over all entries of ``[n, D]`` (ȳ per column)."""
    residual = ((prediction - target) ** 2).sum()
    return float(1.0 - residual / ((target - target.mean(axis=0)) ** 2).sum())


def landing_columns(model: CatchModel) -> NDArray:
    """``[rows, S, C]``: one-hot landing column of a ball in state ``s`` at each row."""
    task, state = model.task, np.arange(len(model.state_column))
    out = np.zeros((task.rows, len(state), task.columns))
    for row in reversed(range(task.rows)):
        out[row, np.arange(len(state)), model.state_column[state]] = 1.0
        state = model.next_state[state]
    return out


class LandingPolicy(ReferencePolicy):
    """Moves the paddle toward the most likely landing column of a belief over the ball
    state, which ``belief(obs[B, 4], episode_start[B])`` gives after each observation
    (``[B, S]``). With one-hot beliefs this is the Bayes-optimal policy."""

    def __init__(self, task: CatchTask, num_envs: int, belief: Any) -> None:
        super().__init__(task, num_envs)
        self.belief = belief
        self.landing = landing_columns(CatchModel(task))

    def _act(self, obs, info, episode_start):
        mass = np.einsum("bs,bsc->bc", self.belief(obs, episode_start), self.landing[self.steps])
        paddle = self.task.split_obs(obs)[0][:, 0]
        return (np.sign(mass.argmax(axis=1) - paddle) + 1).astype(np.int64)


class Stepper:
    """Runs a recurrent ``module(x[1, B, F], state, starts[1, B])`` one observation at a time,
    with ``inputs(obs[B, 4]) -> x[B, F]`` and ``readout(features[B, H]) -> belief[B, S]``."""

    def __init__(self, module: Any, state: Any, inputs: Any, readout: Any) -> None:
        self.module, self.state, self.inputs, self.readout = module, state, inputs, readout

    def __call__(self, obs: NDArray, episode_start: NDArray) -> NDArray:
        with torch.no_grad():
            x = self.inputs(obs)[None]
            out, self.state = self.module(x, self.state, torch.from_numpy(episode_start)[None])
            return self.readout(out[0])


def policy_table(
    model: CatchModel, encoder: GRUEncoder, decoder: RidgeReadout, budget: Budget
) -> dict[str, float]:
    """Mean return of each policy on the same ``budget.test_episodes`` seeded episodes, those
    of the decoder's test set."""
    n, seed = budget.test_episodes, budget.seed + FIRST_SEED["test"]
    rnn = hmm_filter(model)
    exact = Stepper(rnn, rnn.initial_state(n), lambda o: one_hot(model.task, o), np.asarray)
    gru = Stepper(
        encoder,
        encoder.initial_state(n),
        lambda o: torch.from_numpy(o[:, BALL]).float(),
        lambda h: decoder(h.double()).numpy(),
    )
    returns = reference_means(ENV, n, seed, policies=("best_memoryless", "bayes"))
    for name, tracker in (("greedy_exact_belief", exact), ("greedy_decoded_gru", gru)):
        policy = policy_returns(ENV, lambda task, t=tracker: LandingPolicy(task, n, t), n, seed)
        returns[name] = float(policy.mean())
    return returns


def decoder_fit(
    model: CatchModel, encoder: GRUEncoder, train_obs: NDArray, test_obs: NDArray, ridge: float
) -> tuple[RidgeReadout, float]:
    """Ridge decoder of the exact belief from the GRU state, fitted on the occluded steps of
    ``train_obs``; its R² on the occluded steps of ``test_obs``."""
    hidden = slice(model.task.visible_rows, None)
    states = len(model.state_column)

    def data(obs: NDArray) -> tuple[torch.Tensor, torch.Tensor]:
        features = gru_features(encoder, obs)[hidden].flatten(0, 1).double()
        return features, torch.from_numpy(exact_beliefs(model, obs)[hidden]).flatten(0, 1)

    decoder = RidgeReadout(encoder.features_dim, states, ridge=ridge).fit(*data(train_obs))
    features, target = data(test_obs)
    with torch.no_grad():
        return decoder, r_squared(decoder(features).numpy(), target.numpy())


def run(budget: Budget) -> dict[str, Any]:
    """(a) the constructed RNN against the exact filter; (b) per GRU width, the decoder's R²
    on the occluded steps of held-out episodes; the policies' returns."""
    model = CatchModel(TASK)
    obs, _ = catch_episodes(budget.filter_episodes, budget.seed + FIRST_SEED["filter"])
    exact, constructed = exact_beliefs(model, obs), rnn_beliefs(model, obs)
    train_obs, train_states = catch_episodes(
        budget.train_episodes, budget.seed + FIRST_SEED["train"]
    )
    test_obs, _ = catch_episodes(budget.test_episodes, budget.seed + FIRST_SEED["test"])
    r2, losses = {}, {}
    for size in (budget.hidden_size, *budget.other_sizes):
        encoder, losses[size] = train_gru(train_obs, train_states, size, budget)
        decoder, r2[size] = decoder_fit(model, encoder, train_obs, test_obs, budget.ridge)
        if size == budget.hidden_size:
            acting = encoder, decoder
    test_belief = exact_beliefs(model, test_obs)[TASK.visible_rows :]
    return {
        "max_abs_difference": float(np.abs(constructed - exact).max()),
        "filter_steps": int(np.prod(obs.shape[:2])),
        "example": {"exact": exact[:, 0], "rnn": constructed[:, 0]},
        "decoder_r2": r2,
        "hidden_size": budget.hidden_size,
        "occluded_test_steps": int(np.prod(test_belief.shape[:2])),
        "uncertain_fraction": float((test_belief.max(axis=-1) < 1.0).mean()),
        "losses": {size: np.array(values) for size, values in losses.items()},
        "returns": policy_table(model, *acting, budget),
        "budget": budget.__dict__,
    }


def verdict(
    evidence: dict[str, Any], equal: float = 1e-12, min_r2: float = 0.9, min_score: float = 0.9
) -> Verdict:
    """(a) largest |RNN − exact filter| ≤ ``equal``; (b) decoder R² ≥ ``min_r2`` on the
    occluded test steps, and the decoded-belief policy's memory score (best memoryless 0,
    Bayes 1, same episodes) ≥ ``min_score``."""
    returns = evidence["returns"]
    score = memory_score(
        returns["greedy_decoded_gru"], returns["best_memoryless"], returns["bayes"]
    )
    r2 = evidence["decoder_r2"][evidence["hidden_size"]]
    equal_ok = evidence["max_abs_difference"] <= equal
    decoded_ok = r2 >= min_r2
    return Verdict(
        equal_ok and decoded_ok and score >= min_score,
        f"(a) constructed RNN = exact filter to {equal:g} (largest absolute difference); (b) "
        f"ridge R² of the exact belief from the GRU state ≥ {min_r2:g} on occluded held-out "
        f"steps, and the policy on the decoded belief reaches memory score ≥ {min_score:g}",
        {
            "max_abs_difference": evidence["max_abs_difference"],
            "decoder_r2": r2,
            "decoded_policy_memory_score": score,
            "returns": returns,
        },
    )


def _additive_input(patcher: Patcher) -> None:
    """The emission column added to the carried state instead of multiplying it."""

    def additive(predicted: torch.Tensor, likelihood: torch.Tensor) -> torch.Tensor:
        total = likelihood + predicted
        return total / total.sum(dim=-1, keepdim=True)

    patcher.setattr(sys.modules[__name__], "filter_step", additive)


def _transition_transposed(patcher: Patcher) -> None:
    """The state carried by A instead of Aᵀ (pulled back instead of pushed forward)."""
    original = hmm_matrices

    def transposed(model: CatchModel) -> tuple[NDArray, NDArray, NDArray]:
        transition, emission, prior = original(model)
        return transition.T, emission, prior

    patcher.setattr(sys.modules[__name__], "hmm_matrices", transposed)


BREAKS = (
    Break("input added to the state instead of multiplying it", _additive_input),
    Break("transition matrix transposed (A instead of Aᵀ)", _transition_transposed),
    Break("the GRU's state is reset at every step", state_reset_every_step(GRUEncoder)),
)
