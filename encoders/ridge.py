"""Closed-form ridge (Tikhonov) readout for frozen encoders, accumulated in chunks.

    W_out = Yᵀ X (Xᵀ X + β I)⁻¹    (Lukoševičius 2012, eq. 9; ../shared/REFERENCE.md §3)

on centred data when a bias is fitted (the bias is not regularised, as reservoirpy 0.4's
``Ridge`` and scikit-learn's ``Ridge``). ``XᵀX`` and ``XᵀY`` are summed in float64 chunk by
chunk, so a 10⁶-step sequence never has to be held in memory and float32 states still give
an accurate fit (float32 sums ruin it at β = 1e-6). Runs on the device of the data.

Precision: the sums are taken of ``x - s`` with ``s`` the first chunk's mean. Centring raw
sums afterwards (``XᵀX - n x̄x̄ᵀ``, as reservoirpy does) cancels most digits when the
states' mean is large against their spread (reservoir states: mean 0.42, spread 0.08), and
with β = 1e-6 the system is ill-conditioned (cond ≈ 2.5e10 at N = 1000): on Mackey-Glass
the shifted sums give ``W`` within 1e-6 of an exact QR solution, the raw ones 1e-4.
Speed: on CPU ``XᵀX`` is one symmetric rank-k update per chunk (BLAS ``dsyrk``: one
triangle, half the flops of a matmul) on numpy's OpenBLAS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from scipy.linalg.blas import dsyrk
from torch import nn

from stateful_rl.encoders.base import State, StateEncoder

FeatureMap = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def encode_in_chunks(
    encoder: StateEncoder,
    x: torch.Tensor,
    episode_starts: torch.Tensor | None = None,
    chunk_size: int = 1000,
    state: State | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x_chunk[t, B, F], features_chunk[t, B, H])`` over ``x[T, B, F]``, carrying the
    state between chunks; ``episode_starts`` defaults to a start at step 0 only."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if episode_starts is None:
        episode_starts = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
        episode_starts[0] = True
    state = encoder.initial_state(x.shape[1], x.device) if state is None else state
    for begin in range(0, x.shape[0], chunk_size):
        chunk = x[begin : begin + chunk_size]
        features, state = encoder(chunk, state, episode_starts[begin : begin + chunk_size])
        yield chunk, features


def gated_features(features: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """``[h, g ⊙ h]``: lets one linear readout switch between two maps with a 0/1 flag ``g``.

    ``features[..., N]`` and ``gate[..., 1]`` (e.g. the visibility flag of an occluded
    target) -> ``[..., 2N]``; the readout then fits separate weights for ``g = 1``.
    """
    return torch.cat([features, features * gate], dim=-1)


def _shifted(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``x[..., D] - shift[D]`` as a new float64 ``[n, D]`` tensor; on CPU by numpy, which
    converts, subtracts and gathers a strided ``x`` in one pass, faster than torch's
    mixed-dtype subtraction on CPU."""
    if x.device.type != "cpu":
        return (x - shift).reshape(-1, shift.shape[0])
    out = np.subtract(x.detach().numpy(), shift.numpy(), dtype=np.float64, order="C")
    return torch.from_numpy(out.reshape(-1, shift.shape[0]))


class RidgeReadout(nn.Module):
    """Linear readout ``y = W x + b`` fitted in closed form; ``x[..., D]`` -> ``y[..., O]``.

    Call :meth:`partial_fit` on chunks (or :meth:`fit` / :meth:`fit_encoder`), then
    :meth:`solve`; the weights are float64 buffers.

    Args:
        in_features: ``D``.
        out_features: ``O``.
        ridge: ``β`` ≥ 0.
        fit_bias: fit ``b`` (by centring; not regularised).
    """

    weight: torch.Tensor
    bias: torch.Tensor
    # float64 sums of the shifted data and the shifts (see the module docstring)
    _xtx: torch.Tensor
    _xty: torch.Tensor
    _x_sum: torch.Tensor
    _y_sum: torch.Tensor
    _x_shift: torch.Tensor
    _y_shift: torch.Tensor

    def __init__(
        self, in_features: int, out_features: int, ridge: float = 1e-6, fit_bias: bool = True
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"in_features and out_features must be >= 1, got {in_features}, {out_features}"
            )
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        self.in_features = in_features
        self.out_features = out_features
        self.ridge = ridge
        self.fit_bias = fit_bias
        f64 = torch.float64
        self.register_buffer("weight", torch.zeros(out_features, in_features, dtype=f64))
        self.register_buffer("bias", torch.zeros(out_features, dtype=f64))
        self.reset_accumulators()

    def reset_accumulators(self) -> None:
        """Forget the data seen by :meth:`partial_fit` (the solved weights stay)."""
        device, f64 = self.weight.device, torch.float64
        d, o = self.in_features, self.out_features
        # buffers (not saved in the state_dict) so that .to(device) moves them too
        shapes = {"_xtx": (d, d), "_xty": (d, o), "_x_sum": (d,), "_y_sum": (o,)}
        shapes |= {"_x_shift": (d,), "_y_shift": (o,)}
        for name, shape in shapes.items():
            self.register_buffer(
                name, torch.zeros(shape, dtype=f64, device=device), persistent=False
            )
        self._count = 0

    @torch.no_grad()
    def partial_fit(self, x: torch.Tensor, y: torch.Tensor) -> RidgeReadout:
        """Add ``x[..., D]`` and targets ``y[..., O]`` (same leading shape) to the sums."""
        if x.shape[-1] != self.in_features or y.shape[-1] != self.out_features:
            raise ValueError(
                f"expected x[..., {self.in_features}] and y[..., {self.out_features}], "
                f"got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        if x.shape[:-1] != y.shape[:-1]:
            raise ValueError(f"x and y leading shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
        if x.dim() == 1:
            x, y = x.unsqueeze(0), y.unsqueeze(0)
        # blocks of ≥ D rows along the first axis bound the float64 copy's memory
        per_step = max(1, x[0].numel() // self.in_features)
        block = max(1, max(2048, self.in_features) // per_step)
        for begin in range(0, x.shape[0], block):
            self._accumulate(x[begin : begin + block], y[begin : begin + block])
        return self

    def _accumulate(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Add one block ``x[..., D]``, ``y[..., O]`` to the float64 sums."""
        x, y = x.to(self._xtx.device), y.to(self._xtx.device)
        if self._count == 0 and self.fit_bias:  # shift by the first block's mean (precision)
            self._x_shift.copy_(x.reshape(-1, self.in_features).double().mean(0))
            self._y_shift.copy_(y.reshape(-1, self.out_features).double().mean(0))
        x, y = (_shifted(a, shift) for a, shift in ((x, self._x_shift), (y, self._y_shift)))
        if x.device.type == "cpu":  # upper triangle of the column-major view = lower of _xtx
            dsyrk(1.0, x.numpy().T, beta=1.0, c=self._xtx.numpy().T, overwrite_c=True)
        else:
            self._xtx.addmm_(x.T, x)
        self._xty += x.T @ y
        self._x_sum += x.sum(0)
        self._y_sum += y.sum(0)
        self._count += x.shape[0]

    @torch.no_grad()
    def solve(self) -> RidgeReadout:
        """Solve ``(XᵀX + β I) W = XᵀY`` in float64 from the accumulated sums."""
        if self._count == 0:
            raise ValueError("RidgeReadout.solve called before any partial_fit data")
        xtx = self._xtx.tril() + self._xtx.tril(-1).T  # the lower triangle holds the sums
        xty = self._xty.clone()
        if self.fit_bias:  # means of the shifted data
            x_mean, y_mean = self._x_sum / self._count, self._y_sum / self._count
            xtx -= self._count * torch.outer(x_mean, x_mean)
            xty -= self._count * torch.outer(x_mean, y_mean)
        xtx.diagonal().add_(self.ridge)
        weight = torch.linalg.solve(xtx, xty)  # [D, O]
        self.weight.copy_(weight.T)
        if self.fit_bias:
            self.bias.copy_(y_mean + self._y_shift - (x_mean + self._x_shift) @ weight)
        else:
            self.bias.zero_()
        return self

    def fit(
        self, x: torch.Tensor, y: torch.Tensor, washout: int = 0, chunk_size: int = 10_000
    ) -> RidgeReadout:
        """Fit on time-major ``x[T, ..., D]``, ``y[T, ..., O]``, skipping ``washout`` steps."""
        self.reset_accumulators()
        for begin in range(washout, x.shape[0], chunk_size):
            self.partial_fit(x[begin : begin + chunk_size], y[begin : begin + chunk_size])
        return self.solve()

    def fit_encoder(
        self,
        encoder: StateEncoder,
        x: torch.Tensor,
        y: torch.Tensor,
        episode_starts: torch.Tensor | None = None,
        washout: int = 0,
        chunk_size: int = 1000,
        feature_map: FeatureMap | None = None,
    ) -> RidgeReadout:
        """Run ``encoder`` over ``x[T, B, F]`` chunk by chunk and fit ``y[T, B, O]`` on its
        features (``feature_map(features, x_chunk)`` if given), skipping ``washout`` steps."""
        self.reset_accumulators()
        begin = 0
        for chunk, features in encode_in_chunks(encoder, x, episode_starts, chunk_size):
            inputs = feature_map(features, chunk) if feature_map is not None else features
            skip = max(washout - begin, 0)
            end = begin + chunk.shape[0]
            if skip < chunk.shape[0]:
                self.partial_fit(inputs[skip:], y[begin + skip : end])
            begin = end
        return self.solve()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x[..., D]`` -> ``y[..., O]`` in ``x``'s dtype."""
        return x @ self.weight.T.to(x.dtype) + self.bias.to(x.dtype)
