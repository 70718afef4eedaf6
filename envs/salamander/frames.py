"""Head-frame vectors and the body-state observation of each animal, as compiled loops over
the batch (numba).

Each row is computed with the same floating-point operations, in the same order, as the
single-animal code they replace: MuJoCo's ``mju_rotVecQuat`` by ``mju_negQuat(q)``, the
matrix-vector product ``R.T @ v`` and the dot product ``v @ d``
(tests/envs/test_salamander_env checks them to the last bit), so a batch of N animals and N
batches of one give identical observations. Compiled loops, because at a few components per
animal numpy's per-call cost would exceed the arithmetic.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray


@numba.njit(cache=True, nogil=True)
def _rotate_row(quat: NDArray, v: NDArray, out: NDArray) -> None:
    """``out`` [3] ← ``v`` [3] rotated by the conjugate of the unit quaternion ``quat``."""
    w, x, y, z = quat[0], -quat[1], -quat[2], -quat[3]
    t0 = w * v[0] + y * v[2] - z * v[1]
    t1 = w * v[1] + z * v[0] - x * v[2]
    t2 = w * v[2] + x * v[1] - y * v[0]
    out[0] = v[0] + 2 * (y * t2 - z * t1)
    out[1] = v[1] + 2 * (z * t0 - x * t2)
    out[2] = v[2] + 2 * (x * t1 - y * t0)


@numba.njit(cache=True, nogil=True)
def _rotate_by_inverse_quaternion(quat: NDArray, vector: NDArray, out: NDArray) -> None:
    for b in range(quat.shape[0]):
        _rotate_row(quat[b], vector[b], out[b])


@numba.njit(cache=True, nogil=True)
def _transpose_times(rotation: NDArray, vector: NDArray, out: NDArray) -> None:
    for b in range(rotation.shape[0]):
        r, v = rotation[b], vector[b]
        for k in range(3):
            out[b, k] = r[k] * v[0] + r[3 + k] * v[1] + r[6 + k] * v[2]


@numba.njit(cache=True, nogil=True)
def _dot_rows(vector: NDArray, direction: NDArray, out: NDArray) -> None:
    d0, d1, d2 = direction[0], direction[1], direction[2]
    for b in range(vector.shape[0]):
        out[b] = vector[b, 0] * d0 + vector[b, 1] * d1 + vector[b, 2] * d2


@numba.njit(cache=True, nogil=True)
def _remove_heading(quat: NDArray, out: NDArray) -> None:
    """``out`` [4] ← the unit quaternion ``quat`` (w, x, y, z) turned about the world z axis
    until its forward (x) axis has no y component: the tilt (roll, pitch) without the
    heading, the product ``q_z(−ψ) ⊗ quat`` for the heading ψ of the forward axis."""
    w, x, y, z = quat[0], quat[1], quat[2], quat[3]
    heading = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    c, s = np.cos(0.5 * heading), np.sin(0.5 * heading)
    out[0] = c * w + s * z
    out[1] = c * x + s * y
    out[2] = c * y - s * x
    out[3] = c * z - s * w


@numba.njit(cache=True, nogil=True)
def _body_state(
    qpos: NDArray,
    qvel: NDArray,
    qpos_idx: NDArray,
    qvel_idx: NDArray,
    full: bool,
    compass: bool,
    out: NDArray,
) -> None:
    n = qpos_idx.size
    for b in range(qpos.shape[0]):
        for j in range(n):
            out[b, j] = qpos[b, qpos_idx[j]]
        if compass:
            for j in range(4):
                out[b, n + j] = qpos[b, 3 + j]
        else:
            _remove_heading(qpos[b, 3:7], out[b, n : n + 4])
        if full:
            for j in range(n):
                out[b, n + 4 + j] = qvel[b, qvel_idx[j]]
            out[b, 2 * n + 4] = qpos[b, 2]
            _rotate_row(qpos[b, 3:7], qvel[b, :3], out[b, 2 * n + 5 : 2 * n + 8])
            for j in range(3):
                out[b, 2 * n + 8 + j] = qvel[b, 3 + j]


def rotate_by_inverse_quaternion(quat: NDArray, vector: NDArray) -> NDArray:
    """Rows of ``vector`` [N, 3] in the frames of the unit quaternions ``quat`` [N, 4]
    (w, x, y, z), [N, 3]."""
    out = np.empty((quat.shape[0], 3))
    _rotate_by_inverse_quaternion(quat, vector, out)
    return out


def transpose_times(rotation: NDArray, vector: NDArray) -> NDArray:
    """``R.T @ v`` per row for rotations ``rotation`` [N, 9] (row-major) and ``vector``
    [N, 3], [N, 3]."""
    out = np.empty((rotation.shape[0], 3))
    _transpose_times(rotation, vector, out)
    return out


def dot_rows(vector: NDArray, direction: NDArray) -> NDArray:
    """``v @ d`` per row of ``vector`` [N, 3] with one ``direction`` [3], [N]."""
    out = np.empty(vector.shape[0])
    _dot_rows(vector, direction, out)
    return out


def body_state(
    qpos: NDArray,
    qvel: NDArray,
    qpos_idx: NDArray,
    qvel_idx: NDArray,
    full: bool,
    out: NDArray,
    compass: bool = True,
) -> None:
    """The body part of the observations into the first columns of ``out`` [N, ...], for
    n = ``qpos_idx.size`` joints: joint angles ``qpos[:, qpos_idx]`` and the root quaternion
    (n + 4 columns; without ``compass`` the quaternion with its heading removed); with
    ``full`` also joint velocities ``qvel[:, qvel_idx]``, root height, root linear velocity
    in the root frame and root angular velocity (``qvel[:, 3:6]``, already in the root
    frame): 2 n + 11 columns."""
    _body_state(qpos, qvel, qpos_idx, qvel_idx, full, compass, out)
