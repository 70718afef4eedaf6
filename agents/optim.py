"""Adam with gradient-norm clipping in one call: the DQN family's optimiser."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from stateful_rl.adapters import FastPath


class ClippedAdam(torch.optim.Adam):
    """``torch.optim.Adam`` (Kingma & Ba, 2015) whose :meth:`clip_and_step` first scales the
    gradients so that their joint L2 norm is at most ``max_norm`` (as
    ``nn.utils.clip_grad_norm_``), then takes one Adam step.

    Fast path, where torch has the fused Adam kernel (CPU, CUDA): the clipping factor goes
    to the kernel as its ``grad_scale`` (it divides the gradients by it) and the kernel is
    called directly, because at a DQN's sizes ``Adam.step``'s per-call hooks and state
    bookkeeping and a separate scaling pass cost as much as the arithmetic (float32; other
    dtypes scale first, as the kernel takes a float32 divisor only). The kernel
    (``torch._fused_adam_``) and ``torch._foreach_norm``/``_foreach_div_`` are not public
    API: they are probed at first use (:data:`DIRECT_FUSED_ADAM`). Otherwise, and at the
    first step (which creates Adam's state): ``clip_grad_norm_`` + ``step``. State,
    ``state_dict`` and ``load_state_dict`` are Adam's.

    Args:
        params: parameters to optimise.
        lr: step size.
        max_norm: gradient-norm threshold (> 0).
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float, max_norm: float) -> None:
        if max_norm <= 0:
            raise ValueError(f"max_norm must be > 0, got {max_norm}")
        try:
            super().__init__(params, lr=lr, fused=True)
        except RuntimeError:  # no fused kernel for this device
            super().__init__(params, lr=lr, foreach=True)
        self.defaults["max_norm"] = max_norm  # kept by state_dict, pickling and deepcopy
        for group in self.param_groups:
            group["max_norm"] = max_norm

    def _step_block(
        self, params: Sequence[torch.Tensor], states: list[dict[str, Any]]
    ) -> torch.Tensor:
        """The step counts of ``params`` as views of one tensor, so that one ``add_`` counts a
        step for all; rebuilt when the stepping parameters change or a state's count is not
        one of the views (``load_state_dict`` and copies replace them)."""
        block, owners, views = getattr(self, "_steps", (None, [], []))
        if (
            block is None
            or len(owners) != len(params)
            or any(a is not b for a, b in zip(owners, params, strict=False))
            or any(s["step"] is not v for s, v in zip(states, views, strict=False))
        ):
            block = torch.stack([s["step"] for s in states])
            views = list(block)
            for state, view in zip(states, views, strict=True):
                state["step"] = view
            self._steps = (block, params, views)
        return block

    def clip_and_step(self) -> None:
        """Clip the gradients of every parameter that has one, then one Adam step."""
        (group,) = self.param_groups
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        states = [self.state[p] for p in params]
        if group["fused"] and all(states) and DIRECT_FUSED_ADAM():
            self._fused_step(group, params, states)
        else:
            nn.utils.clip_grad_norm_(params, group["max_norm"])
            self.step()

    def _fused_step(
        self, group: dict[str, Any], params: Sequence[torch.Tensor], states: list[dict[str, Any]]
    ) -> None:
        """The fast path: one call of the fused kernel, clipping as its ``grad_scale``."""
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        divisor = _clip_divisor(norm, group["max_norm"])
        if divisor is not None and divisor.dtype != torch.float32:
            torch._foreach_div_(grads, divisor)  # the kernel takes a float32 divisor only
            divisor = None
        self._step_block(params, states).add_(1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            list(params),
            grads,
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            [s["step"] for s in states],
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            amsgrad=False,
            maximize=group["maximize"],
            grad_scale=divisor,
        )


def _clip_divisor(norm: torch.Tensor, max_norm: float) -> torch.Tensor | None:
    """What to divide gradients of joint norm ``norm`` by so that it is at most ``max_norm``:
    ``max(1, (norm + 1e-6) / max_norm)``; None on CPU when that is 1 (reading a CPU scalar
    is free, so the scaling is skipped), a tensor on other devices (no synchronisation)."""
    if norm.device.type == "cpu":
        excess = (float(norm) + 1e-6) / max_norm
        return torch.tensor(excess, dtype=norm.dtype) if excess > 1.0 else None
    return torch.clamp((norm + 1e-6) / max_norm, min=1.0)


def _direct_kernel_matches_public_path() -> bool:
    """Three float64 steps (clipping active, then inactive) of the fast path equal
    ``clip_grad_norm_`` + ``Adam.step`` on two tiny CPU parameters."""
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 2, generator=generator, dtype=torch.float64) for _ in range(2)]
    results = []
    for fast in (True, False):
        params = [nn.Parameter(p.clone()) for p in start]
        optimiser = ClippedAdam(params, lr=0.1, max_norm=1.0)
        (group,) = optimiser.param_groups
        for scale in (1.0, 10.0, 10.0, 1e-3):
            for p in params:
                p.grad = scale * torch.cos(p.detach() * scale)
            states = [optimiser.state[p] for p in params]
            if fast and all(states):
                optimiser._fused_step(group, params, states)
            else:
                nn.utils.clip_grad_norm_(params, 1.0)
                optimiser.step()
        results.append(params)
    return all(torch.allclose(a, b, rtol=1e-12, atol=1e-14) for a, b in zip(*results, strict=True))


DIRECT_FUSED_ADAM = FastPath("torch._fused_adam_", _direct_kernel_matches_public_path)
