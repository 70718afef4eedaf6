"""Where a fast path uses a private or native API, one adapter picks it or a public fallback.

Fast paths that rely on details a new torch, mujoco or numba release may change (torch's
private fused-Adam kernel, ATen's positional RNN functions, the mujoco bindings' C
addresses) sit behind an adapter that tries them at first use, never at import, and falls
back to the public API (``torch.optim.Adam`` + ``clip_grad_norm_``, ``nn.LSTM``/``nn.RNN``,
``mujoco.mj_step1``/``mj_step2`` from Python) when they are missing or fail. A new release
can then cost speed, never the import or the results: each fallback is tested equal to its
fast path.

Set the environment variable ``STATEFUL_RL_FORCE_FALLBACK=1`` to use every fallback (CI runs
the adapters' tests once that way). :class:`FastPath` holds one adapter's decision.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

FORCE_FALLBACK_VARIABLE = "STATEFUL_RL_FORCE_FALLBACK"


def fallback_forced() -> bool:
    """Whether the user asked for the public-API fallbacks (``STATEFUL_RL_FORCE_FALLBACK=1``)."""
    return os.environ.get(FORCE_FALLBACK_VARIABLE, "") not in ("", "0")


class FastPath:
    """Whether one fast path may run: decided by ``probe`` at the first call, then cached.

    ``probe()`` runs the fast path on a tiny input and returns whether it equals the public
    computation. The answer is False without probing when fallbacks are forced, and False
    with a ``RuntimeWarning`` naming ``name`` when the probe raises (the private API is gone
    or changed its signature) or disagrees: a torch release then costs speed, not results.

    Args:
        name: the private API, as the warning names it (e.g. ``"torch._fused_adam_"``).
        probe: ``() -> bool``, run at most once until :meth:`forget`.
    """

    def __init__(self, name: str, probe: Callable[[], bool]) -> None:
        self.name = name
        self.probe = probe
        self._usable: bool | None = None
        _FAST_PATHS.append(self)

    def __call__(self) -> bool:
        """Whether the fast path runs (probing at the first call)."""
        if self._usable is None:
            self._usable = self._decide()
        return self._usable

    def _decide(self) -> bool:
        if fallback_forced():
            return False
        try:
            agrees = bool(self.probe())
        except Exception as error:  # any failure of a private API means: use the fallback
            reason = f"raised {type(error).__name__}: {error}"
        else:
            if agrees:
                return True
            reason = "disagrees with the public computation"
        warnings.warn(
            f"{self.name} {reason}; using the public-API fallback (slower, same results)",
            RuntimeWarning,
            stacklevel=3,
        )
        return False

    def forget(self) -> None:
        """Decide again at the next call (tests, or after changing the environment variable)."""
        self._usable = None


_FAST_PATHS: list[FastPath] = []


def forget_fast_paths() -> None:
    """:meth:`FastPath.forget` for every fast path created so far."""
    for fast_path in _FAST_PATHS:
        fast_path.forget()
