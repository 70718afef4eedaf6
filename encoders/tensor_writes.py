"""Whether tensors were written since a point in time, for caches derived from weights.

Fast path: autograd's version counter (``Tensor._version``, bumped by every in-place
write; not public API, so probed at first use). Fallback: copies of the tensors, compared
element by element (one pass over them per check, and their memory once more).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from stateful_rl.adapters import FastPath


# the first use may come while acting (no_grad, inference mode): probe in a normal context
@torch.inference_mode(False)
def _version_counts_writes() -> bool:
    """An in-place write raises ``_version``, which is an int."""
    tensor = torch.zeros(2)
    before = tensor._version
    tensor[1:].add_(1)  # a write through a view counts too
    return isinstance(before, int) and tensor._version > before


TENSOR_VERSION = FastPath("torch.Tensor._version", _version_counts_writes)


class WriteWatch:
    """Remembers tensors (:meth:`remember`) and tells whether they are still the same
    (:meth:`unchanged`): same storage and no write since (fast path), or equal values."""

    def __init__(self) -> None:
        self._versions: list[tuple[int, int]] | None = None
        self._copies: list[torch.Tensor] | None = None

    def remember(self, tensors: Sequence[torch.Tensor]) -> None:
        """Take the tensors' current state as the reference."""
        if _versions_usable(tensors):
            self._versions, self._copies = _versions(tensors), None
        else:
            self._versions, self._copies = None, [t.detach().clone() for t in tensors]

    def unchanged(self, tensors: Sequence[torch.Tensor]) -> bool:
        """Whether ``tensors`` hold what they held at :meth:`remember` (False before it, and
        when the fast path was switched on or off since)."""
        if _versions_usable(tensors):
            return self._versions is not None and self._versions == _versions(tensors)
        return (
            self._copies is not None
            and len(self._copies) == len(tensors)
            and all(
                a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
                for a, b in zip(self._copies, tensors, strict=False)
            )
        )


def _versions_usable(tensors: Sequence[torch.Tensor]) -> bool:
    """The fast path, for tensors that count versions (inference tensors do not)."""
    return TENSOR_VERSION() and not any(t.is_inference() for t in tensors)


def _versions(tensors: Sequence[torch.Tensor]) -> list[tuple[int, int]]:
    return [(t.data_ptr(), t._version) for t in tensors]
