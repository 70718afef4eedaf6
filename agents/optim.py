"""Adam with gradient-norm clipping in one call: the DQN family's optimiser."""

from __future__ import annotations

from collections.abc import Iterable

import torch


class ClippedAdam(torch.optim.Adam):
    """``torch.optim.Adam`` (Kingma & Ba, 2015) whose :meth:`clip_and_step` first scales the
    gradients so that their joint L2 norm is at most ``max_norm`` (as
    ``nn.utils.clip_grad_norm_``), then takes one Adam step.

    Where torch has the fused Adam kernel (CPU, CUDA), the clipping factor goes to the kernel
    as its ``grad_scale`` (it divides the gradients by it) and the kernel is called directly:
    at a DQN's sizes ``Adam.step``'s per-call hooks and state bookkeeping (~40 µs) and a
    separate scaling pass cost as much as the arithmetic. Elsewhere: ``clip_grad_norm_`` +
    ``step``. State, ``state_dict`` and ``load_state_dict`` are Adam's.

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

    def _step_block(self, params: list[torch.Tensor], states: list[dict]) -> torch.Tensor:
        """The step counts of ``params`` as views of one tensor, so that one ``add_`` counts a
        step for all; rebuilt when the stepping parameters change or the state was replaced
        (``load_state_dict``, copies)."""
        block, owners = getattr(self, "_steps", (None, []))
        if (
            block is None
            or len(owners) != len(params)
            or any(a is not b for a, b in zip(owners, params, strict=False))
            or any(s["step"]._base is not block for s in states)
        ):
            block = torch.stack([s["step"] for s in states])
            for i, state in enumerate(states):
                state["step"] = block[i]
            self._steps = (block, params)
        return block

    def clip_and_step(self) -> None:
        """Clip the gradients of every parameter that has one, then one Adam step."""
        (group,) = self.param_groups
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        grad_scale = _clip_divisor(norm, group["max_norm"])
        states = [self.state[p] for p in params]
        if not group["fused"] or any(not s for s in states):  # first step initialises state
            if grad_scale is not None:
                torch._foreach_div_(grads, grad_scale)
            self.step()
            return
        self._step_block(params, states).add_(1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            params,
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
            grad_scale=grad_scale,
        )


def _clip_divisor(norm: torch.Tensor, max_norm: float) -> torch.Tensor | None:
    """What to divide gradients of joint norm ``norm`` by so that it is at most ``max_norm``:
    ``max(1, (norm + 1e-6) / max_norm)``; None on CPU when that is 1 (reading a CPU scalar
    is free, so the scaling is skipped), a tensor on other devices (no synchronisation)."""
    if norm.device.type == "cpu":
        excess = (float(norm) + 1e-6) / max_norm
        return torch.tensor(excess) if excess > 1.0 else None
    return torch.clamp((norm + 1e-6) / max_norm, min=1.0)
