"""Adam with gradient-norm clipping in one call: the DQN family's optimiser."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from stateful_rl.adapters import FastPath
from stateful_rl.encoders.feedforward import WHOLE_VECTORS


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
    first step (which creates Adam's state): the gradients divided by the same divisor, then
    ``step``. State,
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
            self._public_step(group, params)

    def _public_step(self, group: dict[str, Any], params: Sequence[torch.Tensor]) -> None:
        """Public API only: the gradients divided by the fast path's clipping divisor (so a
        first step, which creates Adam's state, is the fast path's), then ``Adam.step``."""
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        divisor = _clip_divisor(norm, group["max_norm"])
        if divisor is not None:
            for grad in grads:
                grad.div_(divisor)
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
        fused_adam(
            group,
            list(params),
            grads,
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [s["step"] for s in states],
            divisor,
        )


def fused_adam(
    group: dict[str, Any],
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    steps: list[torch.Tensor],
    grad_scale: torch.Tensor | None,
) -> None:
    """torch's fused Adam kernel on the tensors (steps already counted), with the settings of
    the param ``group``; ``grad_scale`` divides the gradients first (None: 1)."""
    beta1, beta2 = group["betas"]
    torch._fused_adam_(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        [],
        steps,
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
        return torch.tensor(excess, dtype=norm.dtype) if excess > 1.0 else None
    return torch.clamp((norm + 1e-6) / max_norm, min=1.0)


def _direct_kernel_matches_public_path() -> bool:
    """Three float64 steps (clipping active, then inactive) of the fast path equal the
    public path's on two tiny CPU parameters."""
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
                optimiser._public_step(group, params)
        results.append(params)
    return all(torch.allclose(a, b, rtol=1e-12, atol=1e-14) for a, b in zip(*results, strict=True))


DIRECT_FUSED_ADAM = FastPath("torch._fused_adam_", _direct_kernel_matches_public_path)


def stacking_error(optimizer: ClippedAdam) -> str | None:
    """Why ``optimizer``'s steps cannot join a :class:`StackedClippedAdam` (None: they can)."""
    device = optimizer.param_groups[0]["params"][0].device
    if not optimizer.param_groups[0]["fused"]:
        return f"torch has no fused Adam for device {device}"
    if not DIRECT_FUSED_ADAM():
        return "the direct fused Adam kernel is off (its public fallback steps one seed)"
    return None


class StackedClippedAdam:
    """The :meth:`ClippedAdam.clip_and_step` of ``S`` seeds as one step, on their parameters
    stacked ``[S, ...]`` (e.g. a :class:`~stateful_rl.encoders.feedforward.StackedMLP`'s).

    Each seed's gradients are clipped by its own norm, computed as its own optimiser computes
    it; one fused Adam call then updates every seed. The seeds' optimiser state is gathered
    when this is made and written back by :meth:`write_back`; it is bitwise the state (and
    the parameters bitwise the values) that the seeds' own steps would give, so a seed can
    go on alone afterwards. The fused CPU kernel computes a tensor's last few elements (less
    than a vector) with scalar code that rounds differently: tensors whose per-seed size is
    not a multiple of ``WHOLE_VECTORS`` are passed to it as per-seed slices.

    Args:
        optimizers: the seeds' fused optimisers, with equal step count, step size and Adam
            settings (``max_norm`` may differ).
        params: the stacked parameters, in the order of each optimiser's parameters.
    """

    def __init__(self, optimizers: Sequence[ClippedAdam], params: Sequence[torch.Tensor]) -> None:
        groups = [opt.param_groups[0] for opt in optimizers]
        shared = ("lr", "betas", "eps", "weight_decay", "maximize", "fused", "amsgrad")
        if any(g[k] != groups[0][k] for g in groups for k in shared) or not groups[0]["fused"]:
            raise ValueError("StackedClippedAdam needs fused optimisers with equal settings")
        steps = {self.step_count(opt) for opt in optimizers}
        if len(steps) != 1:
            raise ValueError(f"the seeds' optimisers have taken different steps: {steps}")
        self.group = groups[0]
        self.optimizers = list(optimizers)
        self.params = list(params)
        self.max_norms = [g["max_norm"] for g in groups]
        self._max_norms = torch.tensor(self.max_norms, device=params[0].device)
        own = [list(g["params"]) for g in groups]
        for seed in own:
            if [tuple(p.shape) for p in seed] != [tuple(p.shape[1:]) for p in params]:
                raise ValueError("the stacked parameters do not match the optimisers' parameters")
        with torch.no_grad():
            self.exp_avg, self.exp_avg_sq = (
                [
                    torch.stack([self._moment(opt, seed[i], key) for opt, seed in zip(
                        optimizers, own, strict=True)])
                    for i in range(len(self.params))
                ]
                for key in ("exp_avg", "exp_avg_sq")
            )  # fmt: skip
        n = len(optimizers)
        self._whole = [p.device.type != "cpu" or p[0].numel() % WHOLE_VECTORS == 0 for p in params]
        self._pieces = [[t] if whole else list(t.unbind()) for t, whole in zip(
            (p.detach() for p in self.params), self._whole, strict=True)]  # fmt: skip
        count = sum(len(p) for p in self._pieces)
        self._steps = torch.full((count,), float(steps.pop()), device=params[0].device)
        self._moments = [
            [piece for t, whole in zip(moment, self._whole, strict=True)
             for piece in ([t] if whole else t.unbind())]
            for moment in (self.exp_avg, self.exp_avg_sq)
        ]  # fmt: skip
        self.n_seeds = n

    @staticmethod
    def step_count(optimizer: ClippedAdam) -> float:
        """Steps ``optimizer`` has taken (0 before the first)."""
        state = optimizer.state.get(optimizer.param_groups[0]["params"][0])
        return float(state["step"]) if state else 0.0

    @staticmethod
    def _moment(optimizer: ClippedAdam, param: torch.Tensor, key: str) -> torch.Tensor:
        state = optimizer.state.get(param)
        return state[key] if state else torch.zeros_like(param)

    @torch.no_grad()
    def clip_and_step(self) -> None:
        """Clip each seed's gradients (its own norm), then one Adam step for every seed."""
        grads = []
        for p in self.params:
            assert p.grad is not None  # the stacked backward pass wrote every gradient
            grads.append(p.grad)
        per_param = [torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads]
        norms = torch.linalg.vector_norm(torch.stack(per_param, dim=1), dim=1)  # [S]
        divisors = self._clip_divisors(norms)
        if divisors is not None:
            for g in grads:
                g.div_(divisors.view(-1, *[1] * (g.dim() - 1)))
        grad_pieces = [
            piece for g, whole in zip(grads, self._whole, strict=True)
            for piece in ([g] if whole else g.unbind())
        ]  # fmt: skip
        self._steps.add_(1)
        params = [piece for pieces in self._pieces for piece in pieces]
        exp_avgs, exp_avg_sqs = self._moments
        fused_adam(
            self.group, params, grad_pieces, exp_avgs, exp_avg_sqs, list(self._steps.unbind()), None
        )

    def _clip_divisors(self, norms: torch.Tensor) -> torch.Tensor | None:
        """:func:`_clip_divisor` of each seed, computed as its own step computes it: divisors
        ``[S]`` for gradient norms ``norms[S]`` (1 where a seed needs no clipping); None on
        CPU when no seed needs clipping."""
        if norms.device.type != "cpu":
            return torch.clamp((norms + 1e-6) / self._max_norms, min=1.0)
        excess = [(n + 1e-6) / m for n, m in zip(norms.tolist(), self.max_norms, strict=True)]
        if max(excess) <= 1.0:
            return None
        return torch.tensor([max(e, 1.0) for e in excess])

    @torch.no_grad()
    def write_back(self) -> None:
        """Write each seed's slice of the Adam state into its optimiser (creating the state
        as ``torch.optim.Adam`` does on a first step)."""
        step = float(self._steps[0])
        for s, opt in enumerate(self.optimizers):
            for i, param in enumerate(opt.param_groups[0]["params"]):
                state = opt.state[param]
                if not state:
                    state["step"] = torch.tensor(step, dtype=torch.float32, device=param.device)
                    state["exp_avg"] = self.exp_avg[i][s].clone()
                    state["exp_avg_sq"] = self.exp_avg_sq[i][s].clone()
                    continue
                state["step"].fill_(step)
                state["exp_avg"].copy_(self.exp_avg[i][s])
                state["exp_avg_sq"].copy_(self.exp_avg_sq[i][s])


@contextlib.contextmanager
def flat_parameters(params: Sequence[nn.Parameter]) -> Iterator[nn.Parameter]:
    """Inside the block, ``params`` (of any modules) are views of one new flat parameter that
    holds their values in order, so that one step of an elementwise optimiser on it updates
    them all (each element as a step on its own parameter would); their gradients stay
    their own. Afterwards each parameter holds its last values in storage of its own."""
    flat = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
    offset = 0
    for p in params:
        p.data = flat.data[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    try:
        yield flat
    finally:
        for p in params:
            p.data = p.data.clone()
