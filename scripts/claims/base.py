"""What every claim module shares: the verdict it returns and the breaks it must catch.

A claim module (``stateful_rl.claims.<name>``) defines ``NUMBER``, ``TITLE``, ``CLAIM`` (the
lecture's statement as the evidence supports it), a ``Budget`` dataclass whose defaults size
the report's run and whose ``quick()`` sizes the tests, ``run(budget)`` (the seeded
computation: a dict of plain numbers and arrays), ``verdict(evidence, ...)`` and ``BREAKS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol
from unittest import mock


@dataclass(frozen=True)
class Verdict:
    """Whether the evidence meets ``criterion``; ``numbers`` are the figures it was read from."""

    holds: bool
    criterion: str
    numbers: dict[str, Any] = field(default_factory=dict)


class Patcher(Protocol):
    """Anything with pytest's ``monkeypatch.setattr(target, name, value)``."""

    def setattr(self, target: Any, name: str, value: Any) -> None: ...


@dataclass(frozen=True)
class Break:
    """A deliberate fault in the mechanism a claim rests on: under it the claim's check must
    not hold. ``apply(patcher)`` installs the fault with ``patcher.setattr``."""

    name: str
    apply: Callable[[Patcher], None]


class _MockPatcher:
    """:class:`Patcher` on ``unittest.mock.patch.object``, undone when ``stack`` closes."""

    def __init__(self, stack: ExitStack) -> None:
        self.stack = stack

    def setattr(self, target: Any, name: str, value: Any) -> None:
        self.stack.enter_context(mock.patch.object(target, name, value))


def state_reset_every_step(encoder_class: type) -> Callable[[Patcher], None]:
    """A :class:`Break`'s ``apply``: ``encoder_class.forward(x, state, starts)`` sees an
    episode start at every step, so the encoder keeps no memory of earlier inputs."""

    def apply(patcher: Patcher) -> None:
        original = encoder_class.forward

        def forward(self: Any, x: Any, state: Any, starts: Any) -> tuple[Any, Any]:
            return original(self, x, state, starts | True)

        patcher.setattr(encoder_class, "forward", forward)

    return apply


@contextmanager
def applied(fault: Break) -> Iterator[None]:
    """Run the ``with`` body under ``fault``; everything is restored on exit."""
    with ExitStack() as stack:
        fault.apply(_MockPatcher(stack))
        yield
