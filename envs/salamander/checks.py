"""Argument checks of the salamander package: a bad value raises a ``ValueError`` that names
the argument and its allowed range (non-finite numbers included), when an object is built
rather than as NaN rewards or an unstable simulation later."""

from __future__ import annotations

import math


def check_float(
    name: str, value: float, low: float, high: float, *, open_low: bool = False
) -> float:
    """``value`` as a float if it is finite and in [low, high] (or (low, high] with
    ``open_low``), else a ``ValueError`` naming ``name`` and the range."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    inside = (low < number if open_low else low <= number) and number <= high
    if not (math.isfinite(number) and inside):
        bracket = "(" if open_low else "["
        raise ValueError(
            f"{name} must be a finite number in {bracket}{low:g}, {high:g}], got {value!r}"
        )
    return number


def check_interval(name: str, value: tuple[float, float], low: float, high: float) -> None:
    """``ValueError`` unless ``value`` is a pair (a, b) with low ≤ a < b ≤ high."""
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}") from None
    check_float(f"{name}[0]", a, low, high)
    check_float(f"{name}[1]", b, low, high)
    if not a < b:
        raise ValueError(f"{name} must have low < high, got {value!r}")


def check_int(name: str, value: int, low: int, high: int) -> int:
    """``value`` if it is an integer in [low, high], else a ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def check_choice(name: str, value: object, allowed: tuple) -> None:
    """``ValueError`` naming ``name`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
