"""Closed-form ridge (Tikhonov) readout for frozen encoders, accumulated in chunks.

    W_out = Yᵀ X (Xᵀ X + β I)⁻¹    (Lukoševičius 2012, eq. 9; ../shared/REFERENCE.md §3)

on centred data when a bias is fitted (the bias is not regularised, as reservoirpy 0.4's
``Ridge`` and scikit-learn's ``Ridge``). ``XᵀX`` and ``XᵀY`` are summed in float64 chunk by
chunk, so a 10⁶-step sequence never has to be held in memory and float32 states still give
an accurate fit (float32 sums ruin it at β = 1e-6). Runs on the device of the data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
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
        for name, shape in (("_xtx", (d, d)), ("_xty", (d, o)), ("_x_sum", (d,)), ("_y_sum", (o,))):
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
        x = x.reshape(-1, self.in_features).to(self._xtx.device, torch.float64)
        y = y.reshape(-1, self.out_features).to(self._xtx.device, torch.float64)
        self._xtx += x.T @ x
        self._xty += x.T @ y
        self._x_sum += x.sum(0)
        self._y_sum += y.sum(0)
        self._count += x.shape[0]
        return self

    @torch.no_grad()
    def solve(self) -> RidgeReadout:
        """Solve ``(XᵀX + β I) W = XᵀY`` in float64 from the accumulated sums."""
        if self._count == 0:
            raise ValueError("RidgeReadout.solve called before any partial_fit data")
        xtx, xty = self._xtx.clone(), self._xty.clone()
        if self.fit_bias:
            x_mean, y_mean = self._x_sum / self._count, self._y_sum / self._count
            xtx -= self._count * torch.outer(x_mean, x_mean)
            xty -= self._count * torch.outer(x_mean, y_mean)
        xtx.diagonal().add_(self.ridge)
        weight = torch.linalg.solve(xtx, xty)  # [D, O]
        self.weight.copy_(weight.T)
        self.bias.copy_(y_mean - x_mean @ weight if self.fit_bias else torch.zeros_like(self.bias))
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
