"""Where a fast path uses a private or native API, one adapter picks it or a public fallback.

Fast paths that rely on details a new torch, mujoco or numba release may change (torch's
private fused-Adam kernel, ATen's positional RNN functions, the mujoco bindings' C
addresses) sit behind an adapter that tries them at first use, never at import, and falls
back to the public API (``torch.optim.Adam`` + ``clip_grad_norm_``, ``nn.LSTM``/``nn.RNN``,
``mujoco.mj_step1``/``mj_step2`` from Python) when they are missing or fail. A new release
can then cost speed, never the import or the results: each fallback is tested equal to its
fast path.

Set the environment variable ``STATEFUL_RL_FORCE_FALLBACK=1`` to use every fallback (CI runs
the adapters' tests once that way).
"""

from __future__ import annotations

import os

FORCE_FALLBACK_VARIABLE = "STATEFUL_RL_FORCE_FALLBACK"


def fallback_forced() -> bool:
    """Whether the user asked for the public-API fallbacks (``STATEFUL_RL_FORCE_FALLBACK=1``)."""
    return os.environ.get(FORCE_FALLBACK_VARIABLE, "") not in ("", "0")
