"""Exact references for OccludedCatch: the Bayes-optimal policy and the best reactive table.

The catch task is a tiny POMDP: the hidden state is the ball's (column, velocity) (its row
is the time since the launch), every launch is equally likely, the dynamics are
deterministic and the observation shows the ball's column in the visible rows and nothing
else. Both references are therefore computed exactly, without sampling:

* :class:`CatchBeliefFilter` is the discrete Bayes (HMM forward) filter. Its belief is kept
  as integer counts ``α[s]`` = number of launches consistent with the observations so far
  that put the ball in state ``s`` now (the forward variable times the number of launches).
* :class:`CatchPlanner` maximises the expected return under that belief by expectimax over
  the remaining steps: for each action it sums, over the next observations, the value of
  the updated belief (memoised on ``(α, paddle, row)``). As the value of every belief and
  paddle position is computed exactly by backward induction over a finite horizon, the
  greedy action of these values is a Bayes-optimal policy (Bellman's principle on the
  belief MDP; Kaelbling, Littman & Cassandra 1998): no policy of the observation history
  has a higher expected return.
* :func:`best_reactive_table` finds the deterministic map observation -> action (no memory)
  with the highest expected return, exactly (see its docstring for the search).
"""

from __future__ import annotations

import itertools
from functools import cached_property

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from stateful_rl.envs.catch import CatchTask

MOVES = (-1, 0, 1)  # paddle displacement of actions 0, 1, 2
MAX_COLUMNS = 10  # the reactive search enumerates 3**columns hidden-phase tables


class CatchModel:
    """The catch POMDP of a :class:`CatchTask` as enumerations.

    States ``s = 3 * column + velocity + 1`` (``3 * columns`` of them); launches are the
    states at row 0, all equally likely; ``paths[k, r]`` is the ball column of launch ``k``
    at row ``r``.
    """

    def __init__(self, task: CatchTask) -> None:
        self.task = task
        cols, vxs = np.divmod(np.arange(3 * task.columns), 3)
        vxs = vxs - 1
        self.state_column = cols
        nxt_col, nxt_vx = task.advance(cols, vxs)
        self.next_state = 3 * nxt_col + nxt_vx + 1  # deterministic transition s -> s'
        paths = [cols]
        for _ in range(task.rows - 1):
            cols, vxs = task.advance(cols, vxs)
            paths.append(cols)
        self.paths = np.stack(paths, axis=1)  # [launches, rows]

    @property
    def landing(self) -> NDArray[np.int64]:
        """``[launches]`` column where each launch reaches the bottom row."""
        return self.paths[:, -1]

    def move(self, paddle, action, row):
        """Paddle after ``action`` (0, 1, 2) chosen while the ball is in ``row``."""
        return self.task.move_paddle(paddle, np.asarray(action) - 1, row)

    # --- reactive tables: one action per observation ---
    @cached_property
    def n_nodes(self) -> int:
        """Distinct observations: ``columns`` hidden ones (paddle only), then one per
        (visible row, ball column, paddle)."""
        c = self.task.columns
        return c + self.task.visible_rows * c * c

    def node(self, paddle, col, row):
        """Observation index of ``paddle`` with the ball at ``(col, row)`` (arrays)."""
        c, visible = self.task.columns, row < self.task.visible_rows
        return np.where(visible, c + (row * c + col) * c + paddle, paddle)

    def obs_nodes(self, obs: NDArray) -> NDArray[np.int64]:
        """Observation index of each row of the env observations ``obs[B, 4]``."""
        c, r = self.task.columns, self.task.rows
        paddle, col, row = (
            np.rint(obs[:, k] * s).astype(np.int64) for k, s in ((0, c - 1), (1, c - 1), (2, r - 1))
        )
        return np.where(obs[:, 3] > 0.5, c + (row * c + col) * c + paddle, paddle)


def reactive_table_value(model: CatchModel, probs: NDArray) -> float:
    """Exact expected return of the reactive policy ``probs[n_nodes, 3]`` (rows are action
    distributions; one-hot rows make it deterministic), averaged over all launches."""
    task = model.task
    launches = len(model.paths)
    dist = np.zeros((launches, task.columns))  # paddle distribution per launch
    dist[:, task.columns // 2] = 1.0
    paddles = np.arange(task.columns)
    for row in range(task.rows - 1):
        nodes = model.node(paddles[None, :], model.paths[:, row : row + 1], row)
        new = np.zeros_like(dist)
        for action in range(3):
            after = model.move(paddles, action, row)
            mass = dist * probs[nodes, action]
            # numpy's stub omits the slices that ufunc.at documents for its indices.
            np.add.at(new, (slice(None), after), mass)  # type: ignore[arg-type]
        dist = new
    caught = dist[np.arange(launches), model.landing]
    return float((2 * caught - 1).mean())


def best_reactive_table(task: CatchTask) -> tuple[NDArray[np.int64], float]:
    """The deterministic reactive policy with the highest expected return, and that return.

    Exact search. While the ball is hidden the observation is the paddle column alone, so a
    table's hidden part is a map ``h: column -> action`` and the paddle ends at
    ``F_h(p)`` where ``p`` is its column when the ball disappears and ``F_h`` is ``h``
    iterated over the hidden steps. Every ``F_h`` of the ``3**columns`` maps ``h`` is
    visited in decreasing order of an upper bound (the launches that land in ``F_h`` of a
    column reachable by the end of the visible phase); for each, the best visible part is
    solved as a 0-1 program (one binary per observation and action; the paddle paths of
    all launches as exact flow constraints) with HiGHS, until the bound falls to the best
    value found. Returns the table ``[n_nodes]`` (unvisited observations: stay) and its
    exact expected return.
    """
    if task.columns > MAX_COLUMNS:
        raise ValueError(f"the exact search needs columns <= {MAX_COLUMNS}, got {task.columns}")
    model = CatchModel(task)
    c, v, start = task.columns, task.visible_rows, task.columns // 2
    hidden_steps = task.rows - 1 - v
    tables = np.array(list(itertools.product(range(3), repeat=c)))  # [3**c, c]
    final = np.tile(np.arange(c), (len(tables), 1))
    for _ in range(hidden_steps):
        final = model.move(final, np.take_along_axis(tables, final, axis=1), v)
    maps, first = np.unique(final, axis=0, return_index=True)
    reach = [start] if task.hold_paddle else range(max(0, start - v), min(c - 1, start + v) + 1)
    reachable = np.zeros((len(maps), c), dtype=bool)
    for p in reach:
        reachable[np.arange(len(maps)), maps[:, p]] = True
    bounds = reachable[:, model.landing].sum(axis=1)
    best_catches, best_table = -1, None
    for k in np.argsort(-bounds, kind="stable"):
        if bounds[k] <= best_catches:
            break
        catches, visible_table = best_visible_part(model, np.eye(c)[maps[k]])
        if catches > best_catches + 1e-9:
            best_catches = round(catches)
            best_table = np.concatenate([tables[first[k]], visible_table])
    assert best_table is not None  # the first candidate beats -1 catches
    launches = len(model.paths)
    return best_table, (2 * best_catches - launches) / launches


def best_visible_part(model: CatchModel, final: NDArray) -> tuple[float, NDArray]:
    """Most expected catches, and the visible part of the table reaching them, when the
    paddle ends in column ``q`` with probability ``final[p, q]`` from column ``p`` at the
    end of the visible phase (one-hot rows: a deterministic hidden part)."""
    task = model.task
    c, v, start = task.columns, task.visible_rows, task.columns // 2
    visible_table = np.ones(model.n_nodes - c, dtype=np.int64)  # stay where unvisited
    if task.hold_paddle:  # the visible actions do not move the paddle
        return float(final[start, model.landing].sum()), visible_table
    launches = range(len(model.paths))
    # Variables: x[node, a] (binary), y[k, t, p] (launch k at paddle p after t visible
    # steps) and z[k, t, p, a] = y * x (the launch's flow through action a).
    nodes: dict[int, int] = {}
    y: dict[tuple[int, int, int], int] = {}
    z: dict[tuple[int, int, int, int], int] = {}
    for k in launches:
        for t in range(v + 1):
            for p in range(max(0, start - t), min(c - 1, start + t) + 1):
                y[k, t, p] = len(y)
                if t < v:
                    nodes.setdefault(int(model.node(p, model.paths[k, t], t)), len(nodes))
                    for a in range(3):
                        z[k, t, p, a] = len(z)
    nx, ny = 3 * len(nodes), len(y)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lower: list[float] = []
    upper: list[float] = []

    def constrain(terms: list[tuple[int, float]], low: float, high: float) -> None:
        for col, val in terms:
            rows.append(len(lower))
            cols.append(col)
            vals.append(val)
        lower.append(low)
        upper.append(high)

    for i in nodes.values():
        constrain([(3 * i + a, 1.0) for a in range(3)], 1.0, 1.0)
    for (k, t, p), j in y.items():
        if t == 0:
            constrain([(nx + j, 1.0)], 1.0, 1.0)
        if t < v:
            flows = [nx + ny + z[k, t, p, a] for a in range(3)]
            constrain([(nx + j, -1.0)] + [(f, 1.0) for f in flows], 0.0, 0.0)
            i = nodes[int(model.node(p, model.paths[k, t], t))]
            for a, f in enumerate(flows):
                constrain([(f, 1.0), (3 * i + a, -1.0)], -np.inf, 0.0)
        if t > 0:
            inflow = [
                (nx + ny + z[k, t - 1, q, a], 1.0)
                for q in range(max(0, p - 1), min(c - 1, p + 1) + 1)
                for a in range(3)
                if (k, t - 1, q, a) in z and model.move(q, a, t - 1) == p
            ]
            constrain([(nx + j, -1.0), *inflow], 0.0, 0.0)
    n_vars = nx + ny + len(z)
    objective = np.zeros(n_vars)
    for (k, t, p), j in y.items():
        if t == v:
            objective[nx + j] = -final[p, model.landing[k]]  # milp minimises
    matrix = coo_matrix((vals, (rows, cols)), shape=(len(lower), n_vars))
    integrality = np.zeros(n_vars)
    integrality[:nx] = 1
    result = milp(
        objective,
        constraints=LinearConstraint(matrix.tocsr(), lower, upper),
        integrality=integrality,
        bounds=Bounds(0.0, 1.0),
    )
    if not result.success:
        raise RuntimeError(f"HiGHS did not solve the visible phase: {result.message}")
    choice = result.x[:nx].reshape(-1, 3).argmax(axis=1)
    for node, i in nodes.items():
        visible_table[node - c] = choice[i]
    return -result.fun, visible_table


class CatchBeliefFilter:
    """Discrete Bayes filter over the ball state, batched: counts ``α[B, states]``.

    ``α[b, s]`` is the number of launches consistent with sequence ``b``'s observations
    that put the ball in state ``s`` now; the belief is ``α / α.sum()``.
    """

    def __init__(self, model: CatchModel) -> None:
        self.model = model

    def prior(self, batch: int) -> NDArray[np.int64]:
        """``[batch, states]``: every launch once (the belief at row 0, before observing)."""
        return np.ones((batch, len(self.model.state_column)), dtype=np.int64)

    def update(self, counts: NDArray, seen_col: NDArray, visible: NDArray) -> NDArray:
        """Keep the states whose column equals ``seen_col[B]`` where ``visible[B]``.

        The hidden flag carries no information: it depends on the row (the time) only."""
        match = self.model.state_column[None, :] == np.asarray(seen_col)[:, None]
        return np.where(np.asarray(visible)[:, None] & ~match, 0, counts)

    def predict(self, counts: NDArray) -> NDArray:
        """Push the counts one row down through the (deterministic) dynamics."""
        out = np.zeros_like(counts)
        # numpy's stub omits the slices that ufunc.at documents for its indices.
        np.add.at(out, (slice(None), self.model.next_state), counts)  # type: ignore[arg-type]
        return out


class CatchPlanner:
    """Bayes-optimal actions by expectimax over the remaining rows (see the module doc)."""

    def __init__(self, model: CatchModel) -> None:
        self.model = model
        self._q: dict[tuple[bytes, int, int], NDArray[np.float64]] = {}

    def q_values(self, counts: NDArray, paddle: int, row: int) -> NDArray[np.float64]:
        """``[3]`` summed returns (over the consistent launches) of each action, then acting
        optimally; ``counts[states]`` is the filtered belief at ``row`` (memoised)."""
        key = (counts.tobytes(), paddle, row)
        if key not in self._q:
            self._q[key] = self._expand(counts, paddle, row)
        return self._q[key]

    def _expand(self, counts: NDArray, paddle: int, row: int) -> NDArray[np.float64]:
        model, task = self.model, self.model.task
        out = np.empty(3)
        for action in range(3):
            after = int(model.move(paddle, action, row))
            ahead = np.zeros_like(counts)
            np.add.at(ahead, model.next_state, counts)
            if row + 1 == task.rows - 1:
                caught = ahead[model.state_column == after].sum()
                out[action] = 2 * caught - ahead.sum()
            elif row + 1 < task.visible_rows:
                out[action] = sum(
                    self.value(np.where(model.state_column == col, ahead, 0), after, row + 1)
                    for col in np.unique(model.state_column[ahead > 0])
                )
            else:
                out[action] = self.value(ahead, after, row + 1)
        return out

    def value(self, counts: NDArray, paddle: int, row: int) -> float:
        """Summed optimal return of the launches in ``counts``."""
        return float(self.q_values(counts, paddle, row).max())

    def act(self, counts: NDArray, paddles: NDArray, rows: NDArray) -> NDArray[np.int64]:
        """Optimal actions ``[B]`` for filtered beliefs ``counts[B, states]``."""
        return np.array(
            [
                int(np.argmax(self.q_values(c, int(p), int(r))))
                for c, p, r in zip(counts, paddles, rows, strict=True)
            ],
            dtype=np.int64,
        )

    def expected_return(self) -> float:
        """Exact expected return of the Bayes-optimal policy over all launches."""
        model = self.model
        prior = np.ones(len(model.state_column), dtype=np.int64)
        start = model.task.columns // 2
        total = sum(
            self.value(np.where(model.state_column == col, prior, 0), start, 0)
            for col in range(model.task.columns)
        )
        return total / len(model.paths)
