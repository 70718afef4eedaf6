"""Echo state network: a fixed random sparse leaky-tanh reservoir (Jaeger 2001; Lukoševičius
2012, "A practical guide to applying echo state networks"; ../shared/REFERENCE.md §3).

    h̃_t = tanh(W_in x_t + W h_{t-1} + b),    h_t = (1 - α) h_{t-1} + α h̃_t,

with ``h = 0`` at every episode start. The weights are never trained (``trainable`` is
False; they are buffers, not parameters). Initialisation follows reservoirpy 0.4's
defaults: ``W`` Gaussian with a fraction ``connectivity`` of non-zeros rescaled to spectral
radius ``ρ``; ``W_in`` and ``b`` Bernoulli ±1 times ``input_scaling`` / ``bias_scaling``
with a fraction ``input_connectivity`` of non-zeros.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import partial

import numba
import numpy as np
import scipy.sparse as sp
import torch
from numba import types
from numba.extending import overload

from stateful_rl.encoders.base import State, StateEncoder
from stateful_rl.encoders.tensor_writes import WriteWatch

# (W[N, N], W_in[N, F], b[N] or a scalar), as scipy/numpy arrays
ReservoirWeights = tuple[np.ndarray | sp.sparray, np.ndarray | sp.sparray, np.ndarray | float]


def spectral_radius(
    matrix: torch.Tensor, iterations: int = 300, burn_in: int = 100, vectors: int = 4, seed: int = 0
) -> float:
    """Estimate ``max |λ|`` of a square (sparse or dense) matrix by its mean log growth rate.

    Power iteration on ``vectors`` random vectors: after ``burn_in`` steps the mean of
    ``log ‖W v‖`` (with ``v`` renormalised every step) converges to ``log ρ`` even when the
    leading eigenvalues are a complex pair. Costs ``iterations`` sparse products, far fewer
    than ARPACK's ``eigs`` needs for a complex leading pair; within a fraction of a percent
    of the exact value on Gaussian reservoirs with N ≥ 500.
    """
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"spectral_radius needs a square matrix, got {tuple(matrix.shape)}")
    if iterations <= burn_in:
        raise ValueError(f"iterations ({iterations}) must exceed burn_in ({burn_in})")
    generator = torch.Generator().manual_seed(seed)
    v = torch.randn(matrix.shape[0], vectors, generator=generator, dtype=torch.float64)
    v = v.to(device=matrix.device, dtype=matrix.dtype)
    log_growth = torch.zeros(vectors, dtype=torch.float64, device=matrix.device)
    for i in range(iterations):
        v = matrix @ v
        norm = torch.linalg.vector_norm(v, dim=0)
        if i >= burn_in:
            log_growth += torch.log(norm.double())
        v = v / norm
    return float(torch.exp(log_growth / (iterations - burn_in)).mean())


def _bernoulli(rng: np.random.Generator, shape: tuple[int, ...], density: float) -> np.ndarray:
    """±1 entries with a fraction ``density`` of non-zeros (dense array)."""
    signs = rng.choice(np.array([-1.0, 1.0]), size=shape)
    return signs * (rng.random(shape) < density)


class EchoStateEncoder(StateEncoder):
    """Leaky-tanh echo state reservoir; features are the states ``h_t`` (``[T, B, N]``).

    Args:
        input_dim: observation size ``F``.
        units: reservoir size ``N`` (runs on GPU with N ≥ 20 000; sparse by default).
        spectral_radius: ``ρ(W)`` after rescaling.
        leak_rate: ``α`` in ``(0, 1]``.
        input_scaling: scale of ``W_in`` (a float, or one per input).
        bias_scaling: scale of ``b`` (0: no bias).
        connectivity: fraction of non-zeros of ``W``.
        input_connectivity: fraction of non-zeros of ``W_in`` and ``b``.
        seed: seed of the weights.
        sparse: store ``W`` as a CSR tensor (default: when ``connectivity < 0.3``).
        dtype: dtype of weights and states (float32; float64 for exact comparisons).
        weights: ``(W, W_in, b)`` to use as they are instead of random ones (see
            :meth:`from_weights`).
    """

    trainable = False
    # Buffers: W as CSR parts (sparse) or dense [N, N], W_in [N, F], b [N].
    w_rows: torch.Tensor
    w_cols: torch.Tensor
    w_values: torch.Tensor
    w_dense: torch.Tensor
    w_in: torch.Tensor
    bias: torch.Tensor

    def __init__(
        self,
        input_dim: int,
        units: int = 1000,
        spectral_radius: float = 0.9,
        leak_rate: float = 0.3,
        input_scaling: float | np.ndarray = 1.0,
        bias_scaling: float = 0.0,
        connectivity: float = 0.1,
        input_connectivity: float = 0.1,
        seed: int = 0,
        sparse: bool | None = None,
        dtype: torch.dtype = torch.float32,
        weights: ReservoirWeights | None = None,
    ) -> None:
        super().__init__()
        if input_dim < 1 or units < 1:
            raise ValueError(f"input_dim and units must be >= 1, got {input_dim} and {units}")
        if not 0 < leak_rate <= 1:
            raise ValueError(f"leak_rate must be in (0, 1], got {leak_rate}")
        if spectral_radius < 0:
            raise ValueError(f"spectral_radius must be >= 0, got {spectral_radius}")
        for name, value in (
            ("connectivity", connectivity),
            ("input_connectivity", input_connectivity),
        ):
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        self.input_dim = input_dim
        self.features_dim = units
        self.leak_rate = leak_rate
        self.sparse = connectivity < 0.3 if sparse is None else sparse
        self._kernel_csr_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._kernel_source = WriteWatch()
        self._draw: Callable[[], ReservoirWeights] | None = None
        if weights is None:
            arguments = (spectral_radius, input_scaling, bias_scaling, connectivity)
            self._draw = partial(
                random_reservoir, input_dim, units, *arguments, input_connectivity, seed
            )
            weights = self._draw()
        self._set_weights(weights, dtype)

    def _set_weights(self, weights: ReservoirWeights, dtype: torch.dtype) -> None:
        """Check ``(W, W_in, b)`` and store them as buffers of ``dtype``."""
        w, w_in, bias = weights
        units, input_dim = self.features_dim, self.input_dim
        if tuple(np.shape(w)) != (units, units) or tuple(np.shape(w_in)) != (units, input_dim):
            raise ValueError(
                f"weights must be W[{units}, {units}] and W_in[{units}, {input_dim}], got "
                f"{np.shape(w)} and {np.shape(w_in)}"
            )
        w = _to_torch(w, self.sparse, dtype)
        # CSR tensors cannot be deep-copied or saved in a state_dict: store their parts
        if self.sparse:
            self.register_buffer("w_rows", w.crow_indices())
            self.register_buffer("w_cols", w.col_indices())
            self.register_buffer("w_values", w.values())
        else:
            self.register_buffer("w_dense", w)
        self.register_buffer("w_in", torch.as_tensor(_dense(w_in), dtype=dtype))
        bias = np.broadcast_to(np.asarray(bias, dtype=np.float64), (units,))
        self.register_buffer("bias", torch.as_tensor(bias.copy(), dtype=dtype))

    def reset_parameters(
        self, generator: torch.Generator | None = None, *, redraw: bool = False
    ) -> None:
        """Nothing unless ``redraw``: the reservoir is never trained, so training from
        scratch starts from the same reservoir (a new one is another model, whose readout
        would fit other features). ``redraw=True`` draws it again from ``seed``, as the
        constructor did (``generator`` is unused: numpy's ``seed`` seeds the reservoir).
        """
        if not redraw:
            return
        if self._draw is None:
            raise ValueError("this reservoir was built from given weights: nothing to redraw")
        device = self.w_in.device
        self._set_weights(self._draw(), self.w_in.dtype)
        self.to(device)

    @classmethod
    def from_weights(
        cls,
        w: np.ndarray | sp.sparray,
        w_in: np.ndarray | sp.sparray,
        bias: np.ndarray | float,
        leak_rate: float,
        dtype: torch.dtype = torch.float64,
    ) -> EchoStateEncoder:
        """An encoder with given ``W[N, N]``, ``W_in[N, F]`` and ``b[N]`` (e.g. reservoirpy's)."""
        units, input_dim = np.shape(w_in)
        return cls(
            input_dim,
            units,
            leak_rate=leak_rate,
            sparse=sp.issparse(w),
            dtype=dtype,
            weights=(w, w_in, bias),
        )

    @property
    def w(self) -> torch.Tensor:
        """The reservoir matrix ``W[N, N]``: a CSR tensor when sparse, else dense."""
        if hasattr(self, "w_dense"):
            return self.w_dense
        return _csr(self.w_rows, self.w_cols, self.w_values, self.features_dim)

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """``h = 0``: one tensor ``[B, N]``."""
        return (torch.zeros(batch_size, self.features_dim, device=device, dtype=self.w_in.dtype),)

    def _kernel_csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``W``'s CSR parts for :func:`_run_reservoir`: ``indptr`` (uint32), column indices
        and values; cached until the buffers are written.

        Unsigned indices spare numba a negative-index check per load. Columns are uint16
        (6 bytes per non-zero with float32 values) while ``W`` fits in a core's L2 cache
        (taken as 2 MB); beyond it the loop waits on memory and uint8 gaps between columns
        (:func:`_column_gaps`, 5 bytes per non-zero) move less of it, while in cache the
        running sum of the gaps costs more than it saves.
        """
        sources = (self.w_values, self.w_cols, self.w_rows)
        if self._kernel_csr_cache is None or not self._kernel_source.unchanged(sources):
            parts = (self.w_values.numpy(), self.w_cols.numpy(), self.w_rows.numpy())
            w = sp.csr_array(parts, shape=(self.features_dim,) * 2, copy=True)
            w.sort_indices()  # gaps need ascending columns
            rows, cols, values = w.indptr, w.indices, w.data
            if 6 * w.nnz > 2**21:
                rows, cols, values = _column_gaps(rows, cols, values)
            else:
                cols = cols.astype(np.uint16 if self.features_dim <= 2**16 else np.uint32)
            rows = rows.astype(np.uint32 if rows[-1] < 2**32 else np.int64)
            self._kernel_csr_cache = (rows, cols, values)
            self._kernel_source.remember(sources)
        return self._kernel_csr_cache

    @torch.no_grad()
    def forward(
        self, x: torch.Tensor, state: State, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, State]:
        """``x[T, B, F]`` -> ``h[T, B, N]`` and the last ``h`` (no gradient: never trained).

        Several sequences (or a GPU, or a dense ``W``) run as torch ``addmm`` steps that
        read ``W`` once for the whole batch; one sequence on CPU runs the whole time loop
        in compiled code (:func:`_run_reservoir`).
        """
        self.check_input(x, episode_starts)
        x = x.to(self.w_in.dtype)
        if x.shape[1] == 1 and x.device.type == "cpu" and hasattr(self, "w_rows"):
            drive = x[:, 0] @ self.w_in.T + self.bias  # [T, N]
            h0 = state[0][0].detach().to(x.dtype).numpy()
            resets = episode_starts[:, 0].bool().numpy()
            alpha = h0.dtype.type(self.leak_rate)
            states = _run_reservoir(*self._kernel_csr(), drive.numpy(), resets, h0, alpha)
            features = torch.from_numpy(states)
            return features.unsqueeze(1), (features[-1:].clone(),)
        keep = (~episode_starts.bool()).to(x.dtype)  # [T, B]
        reset_steps = set(torch.nonzero(episode_starts.bool().any(1)).flatten().tolist())
        drive = torch.matmul(self.w_in, x.transpose(1, 2)).add_(self.bias[:, None])  # [T, N, B]
        h = state[0].to(x.dtype).T  # [N, B]: W @ h needs no transposes
        w, alpha = self.w, self.leak_rate
        out = torch.empty_like(drive)
        for t in range(x.shape[0]):
            if t in reset_steps:
                h = h * keep[t]
            # tanh(z) = 2σ(2z) - 1: torch's CPU sigmoid is faster than its tanh
            s = torch.addmm(drive[t], w, h, beta=2, alpha=2).sigmoid_()
            h = torch.add(s.mul_(2 * alpha).sub_(alpha), h, alpha=1 - alpha, out=out[t])
        return out.transpose(1, 2), (h.T.contiguous(),)


def _tanh(x: float) -> float:
    """``tanh`` inside compiled code: :func:`_tanh_float32` for float32, else ``math.tanh``."""
    return math.tanh(x)


@overload(_tanh)
def _tanh_by_type(x):  # no annotations: numba requires the implementations' exact signature
    """Pick the implementation by numba type at compile time."""
    if x == types.float32:
        return lambda x: _tanh_float32(x)
    return lambda x: math.tanh(x)


def _column(indices: np.ndarray, k: int, previous: int | np.integer) -> int | np.integer:
    """Column of non-zero ``k`` inside compiled code: ``previous + indices[k]`` when the
    indices are uint8 gaps (:func:`_column_gaps`), else ``indices[k]``."""
    return indices[k]


@overload(_column)
def _column_by_type(indices, k, previous):  # no annotations: as _tanh_by_type
    """Pick gap or absolute indexing by the indices' dtype at compile time."""
    if indices.dtype == types.uint8:
        return lambda indices, k, previous: previous + indices[k]
    return lambda indices, k, previous: indices[k]


def _column_gaps(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR with sorted columns -> ``(indptr, gaps, values)``: each column as a uint8 gap
    from the row's previous one (the first from 0); a gap over 255 is bridged by extra
    entries of gap 255 and value 0 (they add 0 × h_j to the sum)."""
    previous = np.concatenate([[0], indices[:-1]]).astype(np.int64)
    starts = indptr[:-1][indptr[:-1] < len(indices)]
    previous[starts] = 0
    gaps = indices.astype(np.int64) - previous
    fillers = np.maximum(gaps - 1, 0) // 255
    position = np.cumsum(fillers + 1) - 1  # where each real entry lands
    out_gaps = np.full(position[-1] + 1 if len(position) else 0, 255, dtype=np.uint8)
    out_values = np.zeros(len(out_gaps), dtype=data.dtype)
    out_gaps[position] = gaps - 255 * fillers
    out_values[position] = data
    out_indptr = np.concatenate([[0], position + 1])[indptr]
    return out_indptr, out_gaps, out_values


@numba.njit(cache=True, nogil=True)
def _tanh_float32(x: np.float32) -> np.float32:
    """``tanh`` to float32 accuracy by Eigen's rational approximation (``ptanh_float``:
    odd degree-13 numerator over even degree-6 denominator, clamped at ±7.905): a few
    multiply-adds that numba inlines, where libm's ``tanhf`` is a call per element."""
    x = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    for c in (2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08):
        p = p * x2 + np.float32(c)
    for c in (1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03):
        p = p * x2 + np.float32(c)
    q = np.float32(1.19825839466702e-06)
    for c in (1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03):
        q = q * x2 + np.float32(c)
    return x * p / q


@numba.njit(cache=True, nogil=True)
def _run_reservoir(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    drive: np.ndarray,
    resets: np.ndarray,
    h0: np.ndarray,
    alpha: float,
) -> np.ndarray:
    """The leaky reservoir over one sequence: CSR ``W`` (``indptr``, ``indices``, ``data``),
    ``drive[T, N]`` = ``W_in x_t + b``, ``resets[T]``, ``h0[N]`` -> states ``[T, N]``.

    The whole time loop is compiled: per step, each row's sparse dot product keeps eight
    independent partial sums (a single running sum waits on every add's latency), then the
    leaky tanh update is fused into one pass, where scipy's CSR mat-vec plus numpy updates
    take a pass over ``h`` per operation.
    """
    steps, units = drive.shape
    out = np.empty_like(drive)
    zeros = np.zeros_like(h0)
    pre = np.empty_like(h0)
    zero = data.dtype.type(0)
    h = h0
    for t in range(steps):
        if resets[t]:
            h = zeros
        for i in range(units):
            s0, s1, s2, s3, s4, s5, s6, s7 = drive[t, i], zero, zero, zero, zero, zero, zero, zero
            k, end = indptr[i], indptr[i + 1]
            j: int | np.integer = np.uint32(0)  # the row's column when the indices are gaps
            while k + 8 <= end:
                j0 = _column(indices, k, j)
                j1 = _column(indices, k + 1, j0)
                j2 = _column(indices, k + 2, j1)
                j3 = _column(indices, k + 3, j2)
                j4 = _column(indices, k + 4, j3)
                j5 = _column(indices, k + 5, j4)
                j6 = _column(indices, k + 6, j5)
                j = _column(indices, k + 7, j6)
                s0 += data[k] * h[j0]
                s1 += data[k + 1] * h[j1]
                s2 += data[k + 2] * h[j2]
                s3 += data[k + 3] * h[j3]
                s4 += data[k + 4] * h[j4]
                s5 += data[k + 5] * h[j5]
                s6 += data[k + 6] * h[j6]
                s7 += data[k + 7] * h[j]
                k += 8
            while k < end:
                j = _column(indices, k, j)
                s0 += data[k] * h[j]
                k += 1
            pre[i] = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
        for i in range(units):
            out[t, i] = h[i] + alpha * (_tanh(pre[i]) - h[i])
        h = out[t]
    return out


def random_reservoir(
    input_dim: int,
    units: int,
    radius: float,
    input_scaling: float | np.ndarray,
    bias_scaling: float,
    connectivity: float,
    input_connectivity: float,
    seed: int,
) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """Random ``(W[N, N] CSR, W_in[N, F], b[N])`` as :class:`EchoStateEncoder` documents."""
    rng = np.random.default_rng(seed)
    w = sp.random_array(
        (units, units),
        density=connectivity,
        format="csr",
        rng=rng,
        data_sampler=rng.standard_normal,
    )
    current = spectral_radius(_to_torch(w, sparse=True, dtype=torch.float64))
    w = w * (radius / current) if current > 0 else w
    scale = np.broadcast_to(np.asarray(input_scaling, dtype=np.float64), (input_dim,))
    w_in = _bernoulli(rng, (units, input_dim), input_connectivity) * scale
    bias = _bernoulli(rng, (units,), input_connectivity) * bias_scaling
    return w, w_in, bias


def _to_torch(w: np.ndarray | sp.sparray, sparse: bool, dtype: torch.dtype) -> torch.Tensor:
    """A scipy/numpy matrix as a torch CSR (``sparse``) or dense tensor."""
    if not sparse:
        return torch.as_tensor(_dense(w), dtype=dtype)
    w = sp.csr_array(w)
    rows, cols = (torch.from_numpy(a.astype(np.int32)) for a in (w.indptr, w.indices))
    return _csr(rows, cols, torch.from_numpy(w.data).to(dtype), w.shape[0])


def _dense(matrix: np.ndarray | sp.sparray) -> np.ndarray:
    """A numpy array of a numpy or scipy sparse matrix."""
    if isinstance(matrix, np.ndarray):
        return matrix
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def _csr(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    """An ``[n, n]`` CSR tensor from its parts (no copy, no invariant check)."""
    with warnings.catch_warnings():  # torch warns that CSR support is "beta" on every build
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(rows, cols, values, size=(n, n), check_invariants=False)


def echo_state_property(
    encoder: EchoStateEncoder,
    x: torch.Tensor | None = None,
    steps: int = 2000,
    tol: float = 1e-6,
    seed: int = 0,
) -> bool:
    """Whether states from two different initial conditions converge under the same input.

    Runs ``x[T, F]`` (default: ``steps`` uniform(-1, 1) inputs) from two random initial
    states in ``[-1, 1]^N`` and returns whether their RMS distance after the last step is
    below ``tol`` (Jaeger 2001's echo state property, checked on one input sequence).
    """
    generator = torch.Generator().manual_seed(seed)
    if x is None:
        x = torch.rand(steps, encoder.input_dim, generator=generator) * 2 - 1
    if x.dim() != 2 or x.shape[1] != encoder.input_dim:
        raise ValueError(f"x must have shape [T, {encoder.input_dim}], got {tuple(x.shape)}")
    device, dtype = encoder.w_in.device, encoder.w_in.dtype
    xs = x.to(device).unsqueeze(1)
    starts = torch.zeros(xs.shape[:2], dtype=torch.bool, device=device)
    finals = []
    for _ in range(2):  # one sequence at a time: the fast single-sequence path on CPU
        h0 = torch.rand(1, encoder.features_dim, generator=generator, dtype=torch.float64) * 2 - 1
        finals.append(encoder(xs, (h0.to(device=device, dtype=dtype),), starts)[1][0])
    return float((finals[0] - finals[1]).double().pow(2).mean().sqrt()) < tol
