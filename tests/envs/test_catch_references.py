"""Exact catch references: Bayes filter and planner, best reactive table (brute-force checks)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stateful_rl.envs.catch import CatchTask
from stateful_rl.envs.catch_references import (
    CatchBeliefFilter,
    CatchModel,
    CatchPlanner,
    best_reactive_table,
    reactive_table_value,
)
from stateful_rl.envs.reference_policies import episode_returns

# Reduced grids: small enough to enumerate, with and without the held paddle.
SMALL = [
    CatchTask(columns=5, rows=6, visible_rows=2, hold_paddle=False),
    CatchTask(columns=4, rows=5, visible_rows=1, hold_paddle=False),
    CatchTask(columns=5, rows=5, visible_rows=2, hold_paddle=True),
    CatchTask(),
]


def ball_columns(task: CatchTask, col: int, vx: int) -> list[tuple[int, int]]:
    """``(column, velocity)`` of a launch at every row, stepped one launch at a time."""
    states = [(col, vx)]
    for _ in range(task.rows - 1):
        col, vx = task.advance(col, vx)
        states.append((col, vx))
    return states


@pytest.mark.parametrize("task", SMALL, ids=str)
def test_belief_equals_the_launches_consistent_with_the_observations(task):
    """The filter's counts at every row equal a plain enumeration of the launches whose
    visible columns match the history, pushed to their current state."""
    model = CatchModel(task)
    belief = CatchBeliefFilter(model)
    launches = [(c, v) for c in range(task.columns) for v in (-1, 0, 1)]
    for true_launch in launches:
        path = ball_columns(task, *true_launch)
        counts = belief.prior(1)
        for row in range(task.rows - 1):
            visible = row < task.visible_rows
            counts = belief.update(counts, np.array([path[row][0]]), np.array([visible]))
            expected = np.zeros(3 * task.columns, dtype=np.int64)
            for launch in launches:
                other = ball_columns(task, *launch)
                seen = range(min(row + 1, task.visible_rows))
                if all(other[r][0] == path[r][0] for r in seen):
                    col, vx = other[row]
                    expected[3 * col + vx + 1] += 1
            np.testing.assert_array_equal(counts[0], expected)
            counts = belief.predict(counts)


def exhaustive_value(task: CatchTask) -> float:
    """Best expected return over all history-dependent policies, by enumeration: while
    columns are still being revealed, every action at every observation history; once they
    are not, every open-loop action sequence to the end."""
    model = CatchModel(task)
    last = task.rows - 1

    def best(launches: list[int], paddle: int, row: int) -> int:
        if row >= task.visible_rows - 1:  # nothing more to see: open loop
            scores = []
            for plan in itertools.product(range(3), repeat=last - row):
                p = paddle
                for r, action in enumerate(plan, start=row):
                    p = int(model.move(p, action, r))
                scores.append(sum(1 if p == model.landing[k] else -1 for k in launches))
            return max(scores)
        scores = []
        for action in range(3):
            after = int(model.move(paddle, action, row))
            groups: dict[int, list[int]] = {}
            for k in launches:
                groups.setdefault(int(model.paths[k, row + 1]), []).append(k)
            scores.append(sum(best(group, after, row + 1) for group in groups.values()))
        return max(scores)

    groups: dict[int, list[int]] = {}
    for k in range(len(model.paths)):
        groups.setdefault(int(model.paths[k, 0]), []).append(k)
    start = task.columns // 2
    return sum(best(group, start, 0) for group in groups.values()) / len(model.paths)


@pytest.mark.parametrize("task", SMALL[:3], ids=str)
def test_planner_value_equals_exhaustive_search(task):
    planner = CatchPlanner(CatchModel(task))
    assert planner.expected_return() == pytest.approx(exhaustive_value(task), abs=1e-12)


def test_some_reduced_grid_is_not_solved_by_memory_alone():
    """The check above must cover a case where the Bayes value is below 1 (velocity never
    seen), else a planner that always catches would pass it."""
    assert exhaustive_value(SMALL[1]) < 0.9


@pytest.mark.parametrize("version", ["v0", "v1"])
def test_bayes_policy_catches_every_ball_on_the_registered_envs(version):
    """Two visible rows reveal column and velocity, and the paddle has the moves to reach
    any landing column: the exact planner's value is 1, and the policy catches them all."""
    env_id = f"stateful_rl/OccludedCatch-{version}"
    returns = episode_returns(env_id, "bayes", 300, seed=0)
    np.testing.assert_array_equal(returns, 1.0)


# Grids with few enough reachable observations to try every table.
ENUMERABLE = [
    CatchTask(columns=2, rows=5, visible_rows=2, hold_paddle=False),
    CatchTask(columns=2, rows=6, visible_rows=3, hold_paddle=False),
    CatchTask(columns=3, rows=5, visible_rows=1, hold_paddle=False),
    CatchTask(columns=4, rows=5, visible_rows=1, hold_paddle=False),
    CatchTask(columns=4, rows=6, visible_rows=2, hold_paddle=True),
]


def reachable_nodes(model: CatchModel) -> list[int]:
    """Observations some launch can meet under some sequence of actions."""
    task = model.task
    nodes, paddles = set(), {task.columns // 2}
    for row in range(task.rows - 1):
        for k in range(len(model.paths)):
            nodes |= {int(model.node(p, model.paths[k, row], row)) for p in paddles}
        paddles = {int(model.move(p, a, row)) for p in paddles for a in range(3)}
    return sorted(nodes)


def enumerated_best_value(model: CatchModel) -> float:
    """Best expected return over every deterministic table of the reachable observations."""
    task, nodes = model.task, reachable_nodes(model)
    tables = np.ones((3 ** len(nodes), model.n_nodes), dtype=np.int64)
    tables[:, nodes] = np.array(list(itertools.product(range(3), repeat=len(nodes))))
    launches = len(model.paths)
    paddle = np.full((len(tables), launches), task.columns // 2)
    for row in range(task.rows - 1):
        node = model.node(paddle, model.paths[None, :, row], row)
        paddle = model.move(paddle, np.take_along_axis(tables, node, axis=1), row)
    catches = (paddle == model.landing[None, :]).sum(axis=1)
    return (2 * catches.max() - launches) / launches


@pytest.mark.parametrize("task", ENUMERABLE, ids=str)
def test_best_reactive_table_equals_enumeration_of_all_tables(task):
    model = CatchModel(task)
    table, value = best_reactive_table(task)
    assert value == pytest.approx(enumerated_best_value(model), abs=1e-12)
    assert reactive_table_value(model, np.eye(3)[table]) == pytest.approx(value, abs=1e-12)


def test_search_goes_past_the_map_with_the_highest_bound():
    """On this grid the hidden-phase map with the highest bound is not the best one (it
    allows 2/3); the optimum catches every launch, which no table can beat."""
    task = CatchTask(columns=4, rows=4, visible_rows=2, hold_paddle=False)
    table, value = best_reactive_table(task)
    assert value == 1.0
    assert reactive_table_value(CatchModel(task), np.eye(3)[table]) == 1.0


def test_best_reactive_table_beats_the_naive_rule_on_v0_and_its_value_is_what_it_scores():
    """On v0 the paddle is memory: the exact optimum (18 of 21 launches) is far above the
    naive rule, and the env scores its table at the value the search reports."""
    task = CatchTask(hold_paddle=False)
    value = best_reactive_table(task)[1]
    assert value == pytest.approx(15 / 21)
    returns = episode_returns("stateful_rl/OccludedCatch-v0", "best_memoryless", 2000, seed=0)
    naive = episode_returns("stateful_rl/OccludedCatch-v0", "naive_memoryless", 2000, seed=0)
    assert abs(returns.mean() - value) < 4 * returns.std() / np.sqrt(len(returns))
    assert returns.mean() > naive.mean() + 0.5


def test_stochastic_table_value_is_linear_in_a_single_visible_node():
    """A visible observation is met at most once per episode, so mixing two actions there
    mixes the two returns (the exact evaluator handles stochastic tables)."""
    task = CatchTask(hold_paddle=False)
    model = CatchModel(task)
    table = best_reactive_table(task)[0]
    node = int(model.node(task.columns // 2, 0, 0))
    values = []
    for action in range(3):
        changed = table.copy()
        changed[node] = action
        values.append(reactive_table_value(model, np.eye(3)[changed]))
    mixed = np.eye(3)[table]
    mixed[node] = [0.2, 0.3, 0.5]
    assert reactive_table_value(model, mixed) == pytest.approx(np.dot([0.2, 0.3, 0.5], values))


def test_exact_search_refuses_grids_too_wide_to_enumerate():
    with pytest.raises(ValueError, match="columns"):
        best_reactive_table(CatchTask(columns=11, rows=12))
