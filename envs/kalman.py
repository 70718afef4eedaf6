"""A batched linear Kalman filter with missing observations (pure numpy).

The one Kalman filter of the project: the ``kalman`` reference policy acts on its estimate
and the encoder benchmark scores sequence models against it. Model (Kalman 1960)::

    x_{t+1} = F x_t + w_t,   w_t ~ N(0, Q)          (state, n dims)
    y_t     = H x_t + v_t,   v_t ~ N(0, R)          (observation, m dims)

An occluded step (``visible = False``) skips the update, so the estimate coasts on the
prediction. Optional reflecting ``walls`` mirror the predicted mean back inside
``[low, high]`` (state layout ``[positions, velocities]``, both halves flipped); the
reflection's Jacobian is ``-I`` on each reflected (position, velocity) pair, so the
covariance is unchanged and the filter is the exact extended Kalman filter of the
piecewise-linear bouncing dynamics.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from stateful_rl.envs.kernels import reflect


class KalmanState(NamedTuple):
    """Batched Gaussian belief: ``mean[B, n]`` and ``cov[B, n, n]``."""

    mean: NDArray[np.float64]
    cov: NDArray[np.float64]


class KalmanFilter:
    """Kalman filter over a batch of independent sequences sharing one linear model.

    Args:
        transition: ``F[n, n]``.
        observation: ``H[m, n]``.
        process_cov: ``Q[n, n]``.
        observation_cov: ``R[m, m]`` (positive definite; add a small floor for noiseless
            observations).
        initial_mean: prior mean ``[n]`` of the first state.
        initial_cov: prior covariance ``[n, n]`` of the first state.
        walls: optional ``(low, high)`` reflecting bounds for the positions (first half of
            the state); the velocities (second half) flip sign on reflection.
    """

    def __init__(
        self,
        transition: ArrayLike,
        observation: ArrayLike,
        process_cov: ArrayLike,
        observation_cov: ArrayLike,
        initial_mean: ArrayLike,
        initial_cov: ArrayLike,
        walls: tuple[float, float] | None = None,
    ) -> None:
        self.F = np.asarray(transition, dtype=np.float64)
        self.H = np.asarray(observation, dtype=np.float64)
        self.Q = np.asarray(process_cov, dtype=np.float64)
        self.R = np.asarray(observation_cov, dtype=np.float64)
        self.initial_mean = np.asarray(initial_mean, dtype=np.float64)
        self.initial_cov = np.asarray(initial_cov, dtype=np.float64)
        n, m = self.F.shape[0], self.H.shape[0]
        shapes = {
            "transition": (self.F.shape, (n, n)),
            "observation": (self.H.shape, (m, n)),
            "process_cov": (self.Q.shape, (n, n)),
            "observation_cov": (self.R.shape, (m, m)),
            "initial_mean": (self.initial_mean.shape, (n,)),
            "initial_cov": (self.initial_cov.shape, (n, n)),
        }
        for name, (got, want) in shapes.items():
            if got != want:
                raise ValueError(f"{name} has shape {got}, expected {want}")
        if walls is not None and (n % 2 or walls[0] >= walls[1]):
            raise ValueError(
                f"walls={walls} needs low < high and a [positions, velocities] state "
                f"of even size, got n={n}"
            )
        self.walls = walls
        self.n_state, self.n_obs = n, m

    def initial_state(self, batch_size: int) -> KalmanState:
        """The prior belief, repeated over ``batch_size`` sequences."""
        mean = np.broadcast_to(self.initial_mean, (batch_size, self.n_state)).copy()
        cov = np.broadcast_to(self.initial_cov, (batch_size, self.n_state, self.n_state))
        return KalmanState(mean, cov.copy())

    def reset_where(self, state: KalmanState, mask: NDArray[np.bool_]) -> KalmanState:
        """Return ``state`` with the sequences where ``mask[B]`` is set back at the prior."""
        mean, cov = state.mean.copy(), state.cov.copy()
        mean[mask] = self.initial_mean
        cov[mask] = self.initial_cov
        return KalmanState(mean, cov)

    def update(self, state: KalmanState, obs: ArrayLike, visible: ArrayLike) -> KalmanState:
        """Condition on ``obs[B, m]`` where ``visible[B]``; other sequences are unchanged."""
        obs = np.asarray(obs, dtype=np.float64)
        visible = np.asarray(visible, dtype=bool)
        mean, cov = state
        hp = self.H @ cov  # [B, m, n]
        innovation_cov = hp @ self.H.T + self.R  # [B, m, m]
        gain = np.linalg.solve(innovation_cov, hp).transpose(0, 2, 1)  # [B, n, m]
        innovation = obs - mean @ self.H.T
        new_mean = mean + (gain @ innovation[:, :, None])[:, :, 0]
        new_cov = cov - gain @ hp
        return KalmanState(
            np.where(visible[:, None], new_mean, mean),
            np.where(visible[:, None, None], new_cov, cov),
        )

    def predict(self, state: KalmanState) -> KalmanState:
        """Propagate the belief one step through the dynamics (and the walls)."""
        mean = state.mean @ self.F.T
        cov = self.F @ state.cov @ self.F.T + self.Q
        if self.walls is not None:
            mean = reflect_state(mean, *self.walls)
        return KalmanState(mean, cov)

    def filter(
        self, obs: ArrayLike, visible: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Filter whole sequences from the prior.

        Args:
            obs: ``[T, B, m]`` observations (values at invisible steps are ignored).
            visible: ``[T, B]`` visibility masks.

        Returns:
            ``(filtered, predicted)``, each ``[T, B, n]``: the mean of ``x_t`` given
            ``y_{0..t}`` and the one-step prediction of ``x_{t+1}`` given ``y_{0..t}``.
        """
        obs = np.asarray(obs, dtype=np.float64)
        visible = np.asarray(visible, dtype=bool)
        if obs.ndim != 3 or obs.shape[2] != self.n_obs or visible.shape != obs.shape[:2]:
            raise ValueError(
                f"expected obs[T, B, {self.n_obs}] and visible[T, B], "
                f"got {obs.shape} and {visible.shape}"
            )
        steps, batch = visible.shape
        filtered = np.empty((steps, batch, self.n_state))
        predicted = np.empty_like(filtered)
        state = self.initial_state(batch)
        for t in range(steps):
            state = self.update(state, obs[t], visible[t])
            filtered[t] = state.mean
            state = self.predict(state)
            predicted[t] = state.mean
        return filtered, predicted


def reflect_state(state: NDArray, low: float, high: float) -> NDArray:
    """Mirror positions (first half of ``state[..., n]``) into ``[low, high]``.

    Velocities (second half) flip sign where a position was reflected.
    """
    half = state.shape[-1] // 2
    pos, vel = reflect(state[..., :half], state[..., half:], low, high)
    return np.concatenate([pos, vel], axis=-1)
