"""OccludedCatch: catch a ball that becomes invisible for the lower part of its flight."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from stateful_rl.envs.kalman import reflect_state
from stateful_rl.envs.kernels import clip, reflect
from stateful_rl.envs.vector import (
    NativeVectorEnv,
    cannot_render,
    check_action,
    check_integer,
    check_render_mode,
)

CELL = 8  # render pixels per grid cell
STARTS = 64  # ball launches drawn at once (batched autoreset in the vector env)
HIDDEN_SHADE, PADDLE_COLOR, BALL_COLOR, HIDDEN_BALL = (
    50,
    (60, 140, 255),
    (255, 200, 40),
    (120, 95, 20),
)


@dataclass(frozen=True)
class CatchTask:
    """Validated parameters and dynamics shared by the single and vector envs."""

    columns: int = 7
    rows: int = 10
    visible_rows: int = 3
    hold_paddle: bool = True

    def __post_init__(self) -> None:
        check_integer("columns", self.columns, 2)
        check_integer("rows", self.rows, 3)
        check_integer("visible_rows", self.visible_rows, 1, self.rows - 1)
        if not isinstance(self.hold_paddle, bool | np.bool_):
            raise ValueError(f"hold_paddle must be True or False, got {self.hold_paddle!r}")

    @cached_property
    def moves(self) -> NDArray[np.float64]:
        """``[3, 1]`` paddle displacement in columns: 0 left, 1 stay, 2 right."""
        return np.array([[-1.0], [0.0], [1.0]])

    def move_paddle(self, paddle, move, row):
        """Paddle column after ``move`` (-1, 0 or +1) chosen while the ball is in ``row``
        (floats or arrays); with ``hold_paddle`` the paddle stays put while the ball is seen."""
        if self.hold_paddle:
            move = move * (row >= self.visible_rows)
        return clip(paddle + move, 0, self.columns - 1)

    def advance(self, col, vx):
        """Ball column and column velocity after one row of fall (floats or arrays)."""
        return reflect(col + vx, vx, 0, self.columns - 1)

    def sample_starts(self, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
        """The next ``STARTS`` launches: ball columns and column velocities in {-1, 0, 1}."""
        return rng.integers(self.columns, size=STARTS), rng.integers(3, size=STARTS) - 1

    def features(self, paddle, col, row) -> list:
        """The 4 observation entries (floats or arrays) of the table in the env docstring."""
        visible = row < self.visible_rows
        scale = self.columns - 1
        return [paddle / scale, visible * col / scale, visible * row / (self.rows - 1), visible]

    def observation_space(self) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (4,), dtype=np.float32)

    # --- what the reference policies need (state layout [column, column velocity]) ---
    def split_obs(self, obs: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        """``obs[B, 4]`` -> paddle ``[B, 1]``, seen ball column ``[B, 1]``, visible ``[B]``."""
        scale = self.columns - 1
        return obs[:, :1] * scale, obs[:, 1:2] * scale, obs[:, 3] > 0.5

    def true_state(self, info: dict[str, Any]) -> NDArray:
        """``[B, 2]`` true ball ``[column, velocity]`` from a vector env's ``info``."""
        return info["ball_state"]

    def goal(self, state: NDArray, steps: NDArray) -> NDArray:
        """Where to move: the landing column of ``state[B, 2]``, ``steps[B]`` rows after launch."""
        state = np.asarray(state, dtype=float)
        rows_left = self.rows - 1 - np.asarray(steps)
        for k in range(self.rows - 1):
            ahead = reflect_state(state + [1.0, 0.0] * state[:, 1:], 0.0, self.columns - 1.0)
            state = np.where((k < rows_left)[:, None], ahead, state)
        return state[:, :1]

    def draw(self, paddle: int, col: int, row: int, show_ball: bool) -> NDArray[np.uint8]:
        """``[rows * 8, columns * 8, 3]`` image; the occluded rows are shaded."""
        image = np.zeros((self.rows * CELL, self.columns * CELL, 3), dtype=np.uint8)
        image[self.visible_rows * CELL :] = HIDDEN_SHADE
        if show_ball:
            color = BALL_COLOR if row < self.visible_rows else HIDDEN_BALL
            image[row * CELL : (row + 1) * CELL, col * CELL : (col + 1) * CELL] = color
        image[-CELL // 2 :, paddle * CELL : (paddle + 1) * CELL] = PADDLE_COLOR
        return image


class OccludedCatchEnv(gym.Env):
    """Catch a falling ball that is only visible in the upper rows.

    ## Description
    The classic memory task on a grid of ``columns x rows`` cells. A ball is launched
    from the top row at a random column with a random column velocity in {-1, 0, +1}
    (reflected by the side walls) and falls one row per step. It is visible only in the
    top ``visible_rows`` rows; the agent must remember its column and velocity to put the
    paddle (bottom row) under the landing column. With ``hold_paddle`` (the default) the
    paddle cannot move while the ball is visible, so it cannot serve as memory: a policy
    of the current observation alone can only guess the landing column.

    ## Action space
    ``Discrete(3)``: 0 left, 1 stay, 2 right (one column, clipped to the grid; ignored
    while the ball is visible when ``hold_paddle``). Anything else raises ``ValueError``.

    ## Observation space
    ``Box(0, 1, (4,), float32)``:

    | index | observation                                        | range  |
    |-------|----------------------------------------------------|--------|
    | 0     | paddle column / (columns - 1)                      | [0, 1] |
    | 1     | ball column / (columns - 1); **0 when hidden**     | [0, 1] |
    | 2     | ball row / (rows - 1); **0 when hidden**           | [0, 1] |
    | 3     | visibility flag (1 visible, 0 hidden)              | {0, 1} |

    ## Rewards
    +1 when the ball reaches the bottom row above the paddle, -1 when it misses, 0 on
    every other step: episode returns are +1 or -1.

    ## Starting state
    Paddle at the centre column; ball in row 0, column and velocity uniform (all
    ``3 * columns`` launches equally likely).

    ## Episode end
    Terminates when the ball reaches the bottom row, after ``rows - 1`` steps (9 by
    default); no truncation needed.

    ## Arguments
    ``columns`` (7), ``rows`` (10), ``visible_rows`` (3: the ball is seen in rows 0-2, so
    the velocity can be read from two observations, then hidden for 7 steps),
    ``hold_paddle`` (True: the paddle moves only while the ball is hidden, 6 moves by
    default, enough to reach any column from the centre), ``render_mode`` (None or
    "rgb_array": 80x56 image, the hidden ball dimmed).

    ``info``: ``ball_state`` (``[column, velocity]``, float64), ``ball_row``, ``visible``,
    ``distance`` (|paddle - ball column|).

    ## Reference returns (exact expectations over the 21 launches)
    | policy | v0 | v1 |
    |---|---:|---:|
    | random | -0.707 | -0.696 |
    | best memoryless (exact optimal reactive table) | +0.714 | -0.524 |
    | Bayes-optimal (exact filter and planner) | 1 | 1 |

    ## Version history
    * v1: ``hold_paddle=True``. On v0 the paddle position is memory: the best policy of
      the current observation alone (an exact search over all tables) catches 18 of the
      21 launches, so only 17 % of the range from random to Bayes-optimal needed memory
      (``(R_bayes - R_best_memoryless) / (R_bayes - R_random)`` = 0.167). Holding the
      paddle while the ball is seen leaves the memoryless policy a guess of the most
      likely landing column (5 of 21): the ratio is 0.898.
    * v0: the paddle moves at every step (``hold_paddle=False``).
    """

    # An instance attribute, as Gymnasium declares it: an env may replace its own.
    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 4}  # noqa: RUF012

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        self.task = CatchTask(**kwargs)
        self.render_mode = check_render_mode(render_mode)
        self.observation_space = self.task.observation_space()
        self.action_space = spaces.Discrete(3)
        self._starts: list[tuple[int, int]] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or not self._starts:
            cols, vxs = self.task.sample_starts(self.np_random)
            self._starts = list(zip(cols.tolist(), vxs.tolist(), strict=True))[::-1]
        self._col, self._vx = self._starts.pop()
        self._row = 0
        self._paddle = self.task.columns // 2
        return self._observe()

    def step(self, action: int) -> tuple[NDArray, float, bool, bool, dict[str, Any]]:
        move = check_action(action, 3) - 1
        task = self.task
        self._paddle = task.move_paddle(self._paddle, move, self._row)
        self._col, self._vx = task.advance(self._col, self._vx)
        self._row += 1
        obs, info = self._observe()
        landed = self._row == task.rows - 1
        reward = (1.0 if self._paddle == self._col else -1.0) if landed else 0.0
        return obs, reward, landed, False, info

    def _observe(self) -> tuple[NDArray, dict[str, Any]]:
        features = self.task.features(self._paddle, self._col, self._row)
        obs = np.array(features, dtype=np.float32)
        info = {
            "ball_state": np.array([self._col, self._vx], dtype=float),
            "ball_row": self._row,
            "visible": features[3],
            "distance": abs(self._paddle - self._col),
        }
        return obs, info

    def render(self) -> NDArray[np.uint8] | None:
        if cannot_render(self.render_mode):
            return None
        return self.task.draw(self._paddle, self._col, self._row, True)


class OccludedCatchVectorEnv(NativeVectorEnv):
    """``num_envs`` copies of :class:`OccludedCatchEnv` stepped in one numpy call each.

    Autoreset and seeding as :class:`~stateful_rl.envs.vector.NativeVectorEnv`
    (``NEXT_STEP``; sub-env ``i`` equals a single env seeded ``seed + i``).
    """

    metadata: dict[str, Any] = NativeVectorEnv.metadata | {"render_fps": 4}

    def __init__(
        self,
        num_envs: int,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.task = CatchTask(**kwargs)
        super().__init__(
            num_envs,
            max_episode_steps,
            render_mode,
            self.task.observation_space(),
            spaces.Discrete(3),
        )
        self._paddle, self._col, self._vx, self._row = (np.zeros(num_envs) for _ in range(4))
        self._start_cols = np.zeros((num_envs, STARTS))
        self._start_vxs = np.zeros((num_envs, STARTS))
        self._next_start = np.zeros(num_envs, dtype=np.int64)

    def _seeded(self) -> None:
        self._next_start[:] = STARTS  # draw fresh launches from the new generators

    def _reset_envs(self, mask: NDArray[np.bool_]) -> None:
        for i in np.flatnonzero(mask & (self._next_start == STARTS)):
            self._start_cols[i], self._start_vxs[i] = self.task.sample_starts(self._rngs[i])
            self._next_start[i] = 0
        rows, nxt = np.flatnonzero(mask), self._next_start[mask]
        self._col[mask], self._vx[mask] = self._start_cols[rows, nxt], self._start_vxs[rows, nxt]
        self._next_start[mask] += 1
        self._row[mask] = 0
        self._paddle[mask] = self.task.columns // 2

    def _advance(self, actions: NDArray[np.int64], active: NDArray[np.bool_]) -> None:
        self._paddle = self.task.move_paddle(self._paddle, actions - 1, self._row)
        self._col, self._vx = self.task.advance(self._col, self._vx)
        self._row += 1

    def _observe(self) -> tuple[NDArray, dict[str, Any]]:
        features = self.task.features(self._paddle, self._col, self._row)
        obs = np.stack(features, axis=1).astype(np.float32)
        info = {
            "ball_state": np.stack([self._col, self._vx], axis=1),
            "ball_row": self._row.astype(np.int64),
            "visible": features[3],
            "distance": np.abs(self._paddle - self._col),
        }
        return obs, info

    def _outcome(self, info: dict[str, Any]) -> tuple[NDArray, NDArray[np.bool_]]:
        landed = self._row == self.task.rows - 1
        caught = self._paddle == self._col
        return np.where(landed, np.where(caught, 1.0, -1.0), 0.0), landed

    def render(self) -> tuple[NDArray[np.uint8], ...] | None:
        """One ``rgb_array`` frame per sub-env (hidden balls dimmed)."""
        if cannot_render(self.render_mode):
            return None
        return tuple(
            self.task.draw(int(p), int(c), int(r), True)
            for p, c, r in zip(self._paddle, self._col, self._row, strict=True)
        )
