"""Our Mackey-Glass integrator reproduces reservoirpy's series (when reservoirpy is installed)."""

from __future__ import annotations

import numpy as np
import pytest

from stateful_rl.datasets import mackey_glass


def test_mackey_glass_matches_reservoirpy() -> None:
    datasets = pytest.importorskip("reservoirpy.datasets")
    ours = mackey_glass(2000, tau=17, seed=42)
    theirs = datasets.mackey_glass(2000, tau=17, seed=42)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_mackey_glass_is_chaotic_and_bounded() -> None:
    series = mackey_glass(3000)
    assert series.shape == (3000, 1)
    assert 0.2 < series.min() and series.max() < 1.5
    # τ = 17 is chaotic: tiny changes of the history grow to order-one differences
    other = mackey_glass(3000, seed=1)
    assert np.abs(series[-500:] - other[-500:]).max() > 0.1
    with pytest.raises(ValueError, match="steps >= 1"):
        mackey_glass(0)
